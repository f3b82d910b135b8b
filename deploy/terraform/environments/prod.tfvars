# prod: `terraform -chdir=stack plan -var-file=../environments/prod.tfvars`. No secrets here: passwords are
# generated into Secrets Manager. Values marked "fill in" are placeholders for the target account.
environment = "prod"
name        = "zufang-prod"
region      = "ap-east-1"
azs         = ["ap-east-1a", "ap-east-1b"] # fill in
vpc_cidr    = "10.30.0.0/16"
admin_cidrs = ["203.0.113.0/24"]                                                                                    # fill in: office / VPN egress; /24 or narrower
app_image   = "registry.example.com/zufang@sha256:0000000000000000000000000000000000000000000000000000000000000000" # fill in: prod pins by digest
server_name = "zufang.example"

single_nat_gateway   = false
app_instance_type    = "t3.medium"
app_min_size         = 3
app_desired_capacity = 3
app_max_size         = 9
edge_instance_type   = "t3.small"

db_instance_class        = "db.t4g.medium"
db_multi_az              = true
db_backup_retention_days = 14
db_deletion_protection   = true
redis_node_type          = "cache.t4g.small"
redis_num_cache_clusters = 2

# House photos (S3): a month to undo a bad release or an accidental delete.
photo_noncurrent_version_days = 30

# Background jobs (Amazon MQ for RabbitMQ): three nodes across AZs (a test holds prod to it).
broker_deployment_mode = "CLUSTER_MULTI_AZ"
broker_instance_type   = "mq.m5.large"

# SMS: the gateway that sends verification codes (prod must not log them; a test checks it).
sms_webhook_url              = "https://sms-gateway.example/send"                                             # fill in
sms_webhook_token_secret_arn = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:zufang/sms-token-AbCdEf" # fill in
allow_log_sms_sender         = false

# The edge: port 80 only redirects to HTTPS; the certificate comes from Secrets Manager.
edge_http_mode          = "redirect"
tls_secret_arn          = "arn:aws:secretsmanager:ap-east-1:123456789012:secret:zufang/edge-tls-AbCdEf" # fill in: the CA-issued certificate (see README: TLS at the edge)
hsts_include_subdomains = false                                                                         # true only when every subdomain of server_name is HTTPS

# Optional
# key_name           = "ops-2026"
# ecr_repository_arn = "arn:aws:ecr:ap-east-1:123456789012:repository/zufang"
# otel_endpoint      = "http://otel-collector.internal:4318"
