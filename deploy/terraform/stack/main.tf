# One environment: the network, the bastion, the edge pair, the app group, the data stores, the
# photo store and the broker, wired as in the physical architecture (client -> EIP -> lb1|lb2 -> app
# servers -> MariaDB, Redis, S3, RabbitMQ).
locals {
  azs = var.azs
  # /24 per subnet: public 10.x.0-2, private 10.x.10-12, isolated 10.x.20-22.
  public_subnets   = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i)]
  private_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 10 + i)]
  isolated_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 20 + i)]
  tags             = { Stack = var.name }
}

module "network" {
  source = "../modules/network"

  name                 = var.name
  cidr                 = var.vpc_cidr
  azs                  = local.azs
  public_subnets       = local.public_subnets
  private_subnets      = local.private_subnets
  isolated_subnets     = local.isolated_subnets
  single_nat_gateway   = var.single_nat_gateway
  enable_vpc_endpoints = var.enable_vpc_endpoints
  tags                 = local.tags
}

module "bastion" {
  source = "../modules/bastion"

  name        = var.name
  vpc_id      = module.network.vpc_id
  vpc_cidr    = module.network.vpc_cidr
  subnet_id   = module.network.public_subnet_ids[0]
  admin_cidrs = var.admin_cidrs
  key_name    = var.key_name
  tags        = local.tags
}

module "edge" {
  source = "../modules/edge"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.public_subnet_ids
  subnet_cidrs              = module.network.public_subnet_cidrs
  app_subnet_cidrs          = module.network.private_subnet_cidrs
  app_asg_name              = module.app.asg_name
  bastion_security_group_id = module.bastion.security_group_id
  kms_key_arn               = module.data.kms_key_arn
  instance_type             = var.edge_instance_type
  key_name                  = var.key_name
  http_mode                 = var.edge_http_mode
  tls_secret_arn            = var.tls_secret_arn
  require_tls_certificate   = var.environment == "prod"
  hsts_include_subdomains   = var.hsts_include_subdomains
  server_name               = var.server_name
  tags                      = local.tags
}

module "app" {
  source = "../modules/app"

  name                         = var.name
  environment                  = var.environment
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  edge_security_group_id       = module.edge.security_group_id
  bastion_security_group_id    = module.bastion.security_group_id
  data_subnet_cidrs            = module.network.isolated_subnet_cidrs
  trusted_proxy_cidrs          = [for ip in values(module.edge.private_ips) : "${ip}/32"]
  allowed_hosts                = [var.server_name]
  app_image                    = var.app_image
  ecr_repository_arn           = var.ecr_repository_arn
  instance_type                = var.app_instance_type
  key_name                     = var.key_name
  min_size                     = var.app_min_size
  desired_capacity             = var.app_desired_capacity
  max_size                     = var.app_max_size
  db_host                      = module.data.db_address
  db_port                      = module.data.db_port
  db_name                      = module.data.db_name
  db_username                  = module.data.db_username
  db_password_secret_arn       = module.data.db_password_secret_arn
  redis_host                   = module.data.redis_host
  redis_port                   = module.data.redis_port
  redis_password_secret_arn    = module.data.redis_password_secret_arn
  kms_key_arn                  = module.data.kms_key_arn
  photo_bucket_name            = module.storage.bucket_name
  photo_bucket_arn             = module.storage.bucket_arn
  photo_kms_key_arn            = module.storage.kms_key_arn
  broker_endpoint              = module.broker.endpoint
  broker_username              = module.broker.username
  broker_password_secret_arn   = module.broker.password_secret_arn
  broker_security_group_id     = module.broker.security_group_id
  otel_endpoint                = var.otel_endpoint
  sms_webhook_url              = var.sms_webhook_url
  sms_webhook_token_secret_arn = var.sms_webhook_token_secret_arn
  allow_log_sms_sender         = var.allow_log_sms_sender
  tags                         = local.tags
}

module "data" {
  source = "../modules/data"

  name                     = var.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.isolated_subnet_ids
  app_security_group_id    = module.app.security_group_id
  db_instance_class        = var.db_instance_class
  db_multi_az              = var.db_multi_az
  db_backup_retention_days = var.db_backup_retention_days
  db_deletion_protection   = var.db_deletion_protection
  redis_node_type          = var.redis_node_type
  redis_num_cache_clusters = var.redis_num_cache_clusters
  tags                     = local.tags
}

module "storage" {
  source = "../modules/storage"

  name                    = var.name
  noncurrent_version_days = var.photo_noncurrent_version_days
  tags                    = local.tags
}

module "broker" {
  source = "../modules/broker"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  app_security_group_id     = module.app.security_group_id
  bastion_security_group_id = module.bastion.security_group_id
  deployment_mode           = var.broker_deployment_mode
  instance_type             = var.broker_instance_type
  kms_key_arn               = module.data.kms_key_arn
  tags                      = local.tags
}
