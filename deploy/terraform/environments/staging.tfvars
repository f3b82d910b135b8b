# staging: `terraform -chdir=stack plan -var-file=../environments/staging.tfvars`. No secrets here: passwords are
# generated into Secrets Manager. Values marked "fill in" are placeholders for the target account.
environment = "staging"
name        = "zufang-staging"
region      = "ap-east-1"
azs         = ["ap-east-1a", "ap-east-1b"] # fill in
vpc_cidr    = "10.20.0.0/16"
admin_cidrs = ["203.0.113.0/24"]                  # fill in: office / VPN egress; /24 or narrower
app_image   = "registry.example.com/zufang:0.1.0" # fill in
server_name = "staging.zufang.example"

single_nat_gateway   = true
app_instance_type    = "t3.small"
app_min_size         = 2
app_desired_capacity = 2
app_max_size         = 4
edge_instance_type   = "t3.micro"

db_instance_class        = "db.t4g.micro"
db_multi_az              = false
db_backup_retention_days = 3
db_deletion_protection   = false
redis_node_type          = "cache.t4g.micro"
redis_num_cache_clusters = 1

# House photos (S3): a week to undo a bad release; test data.
photo_noncurrent_version_days = 7

# Background jobs (Amazon MQ for RabbitMQ): one node, no failover (a restart in the maintenance window pauses the jobs).
broker_deployment_mode = "SINGLE_INSTANCE"
broker_instance_type   = "mq.t3.micro"

# SMS: staging has no gateway; the app logs the codes (it refuses this in production mode unless
# told, and staging runs in production mode to be like prod).
sms_webhook_url              = ""
sms_webhook_token_secret_arn = null
allow_log_sms_sender         = true

# The edge: port 80 only redirects to HTTPS; the certificate comes from Secrets Manager.
edge_http_mode          = "redirect"
tls_secret_arn          = null  # self-signed on the proxies until set (staging only; prod refuses this)
hsts_include_subdomains = false # true only when every subdomain of server_name is HTTPS

# Optional
# key_name           = "ops-2026"
# ecr_repository_arn = "arn:aws:ecr:ap-east-1:123456789012:repository/zufang"
# otel_endpoint      = "http://otel-collector.internal:4318"
