# The only door for operators: SSH from admin_cidrs to the bastion, and from the bastion to the
# private hosts (ProxyJump). SSM Session Manager reaches it too, without any inbound rule.
data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.al2023[0].value)
  # "10.20.*" for 10.20.0.0/16: every private address of the VPC, for the ProxyJump entry.
  private_host_pattern = "${join(".", slice(split(".", cidrhost(var.vpc_cidr, 0)), 0, 2))}.*"
}

resource "aws_security_group" "bastion" {
  name_prefix = "${var.name}-bastion-"
  description = "Bastion: SSH in from admin_cidrs only; SSH out into the VPC; HTTPS out for SSM and packages"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-bastion" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "bastion_ssh" {
  for_each = toset(var.admin_cidrs)

  security_group_id = aws_security_group.bastion.id
  description       = "SSH from an operator network"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "bastion_ssh_vpc" {
  security_group_id = aws_security_group.bastion.id
  description       = "SSH to private hosts (ProxyJump)"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_vpc_security_group_egress_rule" "bastion_https" {
  security_group_id = aws_security_group.bastion.id
  description       = "HTTPS to SSM endpoints and package repositories"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Only what the SSM agent needs (Session Manager as the alternative to SSH); nothing else.
resource "aws_iam_role" "bastion" {
  name_prefix        = "${var.name}-bastion-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

data "aws_partition" "current" {}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.bastion.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "bastion" {
  name_prefix = "${var.name}-bastion-"
  role        = aws_iam_role.bastion.name
  tags        = var.tags
}

resource "aws_instance" "bastion" {
  ami                    = local.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.bastion.id]
  iam_instance_profile   = aws_iam_instance_profile.bastion.name
  key_name               = var.key_name
  monitoring             = true
  ebs_optimized          = true
  # The address comes from the Elastic IP below, so it survives a stop/start.
  associate_public_ip_address = false

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only: no SSRF-style credential theft via IMDSv1
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted             = true
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    delete_on_termination = true
  }

  user_data = <<-EOT
    #!/bin/bash
    set -euo pipefail
    # A jump host forwards connections and runs nothing else; keep it patched.
    dnf -y upgrade --security || true
    sed -i 's/^#\?AllowTcpForwarding.*/AllowTcpForwarding yes/; s/^#\?PasswordAuthentication.*/PasswordAuthentication no/; s/^#\?X11Forwarding.*/X11Forwarding no/' /etc/ssh/sshd_config
    systemctl reload sshd
  EOT

  tags        = merge(var.tags, { Name = "${var.name}-bastion", Role = "bastion" })
  volume_tags = merge(var.tags, { Name = "${var.name}-bastion" })

  lifecycle {
    ignore_changes = [ami] # a new AMI release must not replace the bastion on every apply
  }
}

resource "aws_eip" "bastion" {
  domain   = "vpc"
  instance = aws_instance.bastion.id
  tags     = merge(var.tags, { Name = "${var.name}-bastion" })
}
