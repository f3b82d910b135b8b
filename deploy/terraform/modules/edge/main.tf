# Two nginx + keepalived proxies (lb1, lb2) in public subnets of two AZs, configured with the
# repository's nginx/ folder. keepalived speaks unicast VRRP between them; the node that becomes
# MASTER moves the shared Elastic IP onto itself (nginx/keepalived/notify-eip-aws.sh): in a VPC a
# gratuitous ARP moves nothing, so the Elastic IP is the VIP.
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_ami" "debian" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

locals {
  # The repository's nginx/ folder, four levels up from modules/edge.
  nginx_dir = "${path.module}/../../../../nginx"

  # Exactly the files an edge proxy needs; the bootstrap fails loudly if one is missing.
  nginx_files = toset(concat(
    ["nginx.conf", "docker-entrypoint.sh"],
    tolist(fileset(local.nginx_dir, "conf.d/*.conf")),
    tolist(fileset(local.nginx_dir, "snippets/*.conf")),
    tolist(fileset(local.nginx_dir, "html/**")),
    [
      "keepalived/keepalived.conf.tmpl",
      "keepalived/render.sh",
      "keepalived/notify.sh",
      "keepalived/notify-fifo.sh",
      "keepalived/check_nginx.sh",
      "keepalived/notify-eip-aws.sh",
    ],
  ))
  config_prefix = "nginx/"

  # lb1 starts with the higher priority and so takes the Elastic IP first; nopreempt keeps it
  # wherever it is after that. Host .11 and .12, as on the compose edge network.
  nodes = {
    lb1 = { index = 0, priority = 150, peer = "lb2", private_ip = cidrhost(var.subnet_cidrs[0], 11) }
    lb2 = { index = 1, priority = 100, peer = "lb1", private_ip = cidrhost(var.subnet_cidrs[1], 12) }
  }

  edge_env = {
    for node, n in local.nodes : node => {
      NODE_NAME                    = node
      STATE                        = "BACKUP"
      PRIORITY                     = n.priority
      SELF_IP                      = n.private_ip
      PEER_IP                      = local.nodes[n.peer].private_ip
      VIP                          = aws_eip.edge.public_ip
      VRID                         = var.vrid
      AWS_REGION                   = data.aws_region.current.name
      EIP_ALLOCATION_ID            = aws_eip.edge.allocation_id
      CONFIG_BUCKET                = aws_s3_bucket.config.id
      CONFIG_PREFIX                = local.config_prefix
      TLS_SECRET_ARN               = var.tls_secret_arn == null ? "" : var.tls_secret_arn
      TLS_REQUIRED                 = var.require_tls_certificate
      SERVER_NAME                  = var.server_name
      APP_ASG_NAME                 = var.app_asg_name
      APP_PORT                     = var.app_port
      EDGE_HTTP_MODE               = var.http_mode
      EDGE_HSTS_INCLUDE_SUBDOMAINS = var.hsts_include_subdomains
    }
  }

  user_data = {
    for node, env in local.edge_env : node => join("\n", ["#cloud-config", yamlencode({
      package_update = true
      packages       = ["nginx", "keepalived", "awscli", "curl", "openssl", "python3"]
      write_files = [
        {
          path        = "/etc/zufang/edge.env"
          owner       = "root:root"
          permissions = "0600"
          content     = join("", [for k, v in env : "${k}=${v}\n"])
        },
        {
          path        = "/usr/local/sbin/zufang-edge-bootstrap"
          permissions = "0755"
          content     = file("${path.module}/files/edge-bootstrap.sh")
        },
        {
          path        = "/usr/local/sbin/zufang-edge-upstreams"
          permissions = "0755"
          content     = file("${path.module}/files/edge-upstreams.sh")
        },
        {
          path        = "/etc/systemd/system/zufang-edge-upstreams.service"
          permissions = "0644"
          content     = file("${path.module}/files/zufang-edge-upstreams.service")
        },
        {
          path        = "/etc/systemd/system/zufang-edge-upstreams.timer"
          permissions = "0644"
          content     = file("${path.module}/files/zufang-edge-upstreams.timer")
        },
      ]
      runcmd = [["/usr/local/sbin/zufang-edge-bootstrap"]]
    })])
  }
}

# --- the repository's nginx/ files, delivered through a private bucket ---------------------------------
# EC2 user data is limited to 16 KiB, less than the configuration and the static site; the bucket has no
# such limit and keeps a version of every file the proxies were given.
resource "aws_s3_bucket" "config" {
  #checkov:skip=CKV_AWS_18:the bucket holds the repository's public nginx files, written only by Terraform; access logs would need a second bucket and add no audit value (CloudTrail records the writes)
  #checkov:skip=CKV_AWS_144:the content is rebuilt from the repository by terraform apply; a cross-region replica adds cost, not resilience
  #checkov:skip=CKV2_AWS_62:nothing consumes change events; the proxies pull the files at boot
  bucket_prefix = "${var.name}-edge-config-"
  force_destroy = true # only copies of repository files live here
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "config" {
  bucket                  = aws_s3_bucket.config.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "config" {
  bucket = aws_s3_bucket.config.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "config" {
  bucket = aws_s3_bucket.config.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "config" {
  bucket = aws_s3_bucket.config.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "config" {
  bucket = aws_s3_bucket.config.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_object" "nginx" {
  for_each = local.nginx_files

  bucket      = aws_s3_bucket.config.id
  key         = "${local.config_prefix}${each.value}"
  source      = "${local.nginx_dir}/${each.value}"
  source_hash = filemd5("${local.nginx_dir}/${each.value}")
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

# --- the shared address ------------------------------------------------------------------------------
resource "aws_eip" "edge" {
  #checkov:skip=CKV2_AWS_19:keepalived's notify_master hook associates this address with whichever proxy is MASTER; Terraform deliberately leaves the association alone
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-edge-vip" })
}

# --- security group -----------------------------------------------------------------------------------
resource "aws_security_group" "edge" {
  name_prefix = "${var.name}-edge-"
  description = "Edge proxies: HTTP/HTTPS from anywhere, VRRP between the pair, SSH from the bastion"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-edge" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "edge_http" {
  #checkov:skip=CKV_AWS_260:the edge is the public entry point; port 80 answers every client with a redirect to HTTPS (http_mode, serve only outside prod)
  security_group_id = aws_security_group.edge.id
  description       = "HTTP from clients"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "edge_https" {
  security_group_id = aws_security_group.edge.id
  description       = "HTTPS from clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "edge_vrrp" {
  security_group_id            = aws_security_group.edge.id
  description                  = "VRRP adverts from the peer proxy"
  ip_protocol                  = "112"
  referenced_security_group_id = aws_security_group.edge.id
}

resource "aws_vpc_security_group_ingress_rule" "edge_ssh" {
  #checkov:skip=CKV_AWS_24:false positive: the source is the bastion's security group (referenced_security_group_id), there is no CIDR at all
  security_group_id            = aws_security_group.edge.id
  description                  = "SSH from the bastion only"
  ip_protocol                  = "tcp"
  from_port                    = 22
  to_port                      = 22
  referenced_security_group_id = var.bastion_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "edge_vrrp" {
  security_group_id            = aws_security_group.edge.id
  description                  = "VRRP adverts to the peer proxy"
  ip_protocol                  = "112"
  referenced_security_group_id = aws_security_group.edge.id
}

resource "aws_vpc_security_group_egress_rule" "edge_app" {
  for_each = toset(var.app_subnet_cidrs)

  security_group_id = aws_security_group.edge.id
  description       = "Proxied requests to the app servers"
  ip_protocol       = "tcp"
  from_port         = var.app_port
  to_port           = var.app_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "edge_https_out" {
  security_group_id = aws_security_group.edge.id
  description       = "HTTPS to AWS APIs (EC2, S3, Secrets Manager) and package mirrors"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "edge_http_out" {
  security_group_id = aws_security_group.edge.id
  description       = "HTTP to the Debian package mirrors (apt verifies signatures)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

# --- IAM: move the Elastic IP, read the pool, read own secrets and files; nothing else ------------------
data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
}

data "aws_iam_policy_document" "edge" {
  statement {
    sid       = "MoveTheSharedElasticIp"
    actions   = ["ec2:AssociateAddress"]
    resources = ["${local.arn_prefix}:elastic-ip/${aws_eip.edge.allocation_id}"]
  }

  # The target of the association: only interfaces in the edge subnets, only instances tagged edge.
  statement {
    sid       = "OntoAnEdgeInterface"
    actions   = ["ec2:AssociateAddress"]
    resources = ["${local.arn_prefix}:network-interface/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:Subnet"
      values   = [for id in var.subnet_ids : "${local.arn_prefix}:subnet/${id}"]
    }
  }

  statement {
    sid       = "OntoAnEdgeInstance"
    actions   = ["ec2:AssociateAddress"]
    resources = ["${local.arn_prefix}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Role"
      values   = ["edge"]
    }
  }

  # Describe calls have no resource-level permissions in EC2 or Auto Scaling: "*" is the only valid
  # resource.
  statement {
    sid       = "ReadAddressesAndAppPool"
    actions   = ["ec2:DescribeAddresses", "ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }

  # The certificate is the proxies' only secret (VRRPv3 has no password); a self-signed test stack
  # reads none.
  dynamic "statement" {
    for_each = var.tls_secret_arn == null ? [] : [var.tls_secret_arn]
    content {
      sid       = "ReadCertificateSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "DecryptSecretsAndConfig"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "secretsmanager.${data.aws_region.current.name}.amazonaws.com",
        "s3.${data.aws_region.current.name}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "ListConfig"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.config.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.config_prefix}*"]
    }
  }

  statement {
    sid       = "ReadConfig"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.config.arn}/${local.config_prefix}*"]
  }
}

resource "aws_iam_role" "edge" {
  name_prefix        = "${var.name}-edge-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "edge" {
  name   = "edge-proxy"
  role   = aws_iam_role.edge.id
  policy = data.aws_iam_policy_document.edge.json
}

resource "aws_iam_instance_profile" "edge" {
  name_prefix = "${var.name}-edge-"
  role        = aws_iam_role.edge.name
  tags        = var.tags
}

# --- the two proxies ------------------------------------------------------------------------------------
resource "aws_instance" "edge" {
  #checkov:skip=CKV_AWS_88:each proxy needs its own public address for egress (AWS APIs, packages) while it is BACKUP and does not hold the shared Elastic IP; its security group admits only 80/443 from the world
  for_each = local.nodes

  ami                         = var.ami_id != null ? var.ami_id : data.aws_ami.debian[0].id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_ids[each.value.index]
  private_ip                  = each.value.private_ip
  associate_public_ip_address = true
  vpc_security_group_ids      = [aws_security_group.edge.id]
  iam_instance_profile        = aws_iam_instance_profile.edge.name
  key_name                    = var.key_name
  monitoring                  = true
  ebs_optimized               = true
  user_data                   = local.user_data[each.key]

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted             = true
    volume_type           = "gp3"
    volume_size           = 10
    delete_on_termination = true
  }

  tags        = merge(var.tags, { Name = "${var.name}-${each.key}", Role = "edge", Node = each.key })
  volume_tags = merge(var.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    # A changed user data would stop and start both proxies at once: an outage of the pair. Roll a
    # change one node at a time instead: terraform apply -replace='module.edge.aws_instance.edge["lb2"]',
    # then lb1 (see README).
    ignore_changes = [ami, user_data]
  }

  # The bootstrap reads the bucket, and moves the address, at first boot.
  depends_on = [aws_iam_role_policy.edge, aws_s3_object.nginx]
}
