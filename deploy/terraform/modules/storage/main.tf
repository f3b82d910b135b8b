# The photo store: one private S3 bucket for the houses' photos (originals uploaded through the API,
# the sizes the worker derives from them). Encrypted with a customer key of its own, versioned,
# reachable over TLS only, never public. Who may read and write it is granted on the app tier's
# instance role (modules/app), not here: the bucket policy only denies.
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # Bucket names are global: the account id keeps two accounts' stacks of the same name apart, and a
  # fixed name (not bucket_prefix, capped at 37 characters) is one an operator can type.
  bucket_name = "${var.name}-photos-${data.aws_caller_identity.current.account_id}"
}

# --- a key of its own: its use is granted to the app role only, through IAM ---------------------------
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:a key policy's "*" resource is the key itself; the root principal must administer it or the key becomes unmanageable
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself, not every resource in the account
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself, not every resource in the account
  statement {
    sid       = "AccountAdministersKeyAndDelegatesToIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "photos" {
  description             = "${var.name}: house photos in S3"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "photos" {
  name          = "alias/${var.name}-photos"
  target_key_id = aws_kms_key.photos.key_id
}

# --- the bucket ----------------------------------------------------------------------------------------
resource "aws_s3_bucket" "photos" {
  #checkov:skip=CKV_AWS_18:no access-log bucket exists in this stack to deliver to (a log target cannot use SSE-KMS and needs its own lifecycle); object-level audit belongs to CloudTrail data events, see README
  #checkov:skip=CKV_AWS_144:cross-region replication doubles storage cost; the originals are versioned and every derived size can be rebuilt from them
  #checkov:skip=CKV2_AWS_62:the app learns of uploads through its own RabbitMQ events (it writes the object), not through S3 event notifications
  bucket = local.bucket_name
  tags   = merge(var.tags, { Name = local.bucket_name })
}

# ACLs off: every object belongs to the bucket owner, whoever wrote it; access is IAM only.
resource "aws_s3_bucket_ownership_controls" "photos" {
  bucket = aws_s3_bucket.photos.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "photos" {
  bucket                  = aws_s3_bucket.photos.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioned: an overwrite or delete by a faulty release can be undone for noncurrent_version_days.
resource "aws_s3_bucket_versioning" "photos" {
  bucket = aws_s3_bucket.photos.id
  versioning_configuration {
    status = "Enabled"
  }
}

# SSE-KMS with the customer key rather than SSE-S3: reading an object then also needs kms:Decrypt
# on this key, which only the app role has, and every use of the key is in CloudTrail. The bucket
# key cuts the KMS requests (and their cost) to about one per object per time window.
resource "aws_s3_bucket_server_side_encryption_configuration" "photos" {
  bucket = aws_s3_bucket.photos.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.photos.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "photos" {
  bucket = aws_s3_bucket.photos.id

  # An upload that dies mid-way leaves parts that are billed but invisible.
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  # Deleted or replaced photos stay recoverable for a while, then stop costing.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.photos]
}

# TLS only: any request over plain HTTP is denied, whoever makes it.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.photos.arn, "${aws_s3_bucket.photos.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "photos" {
  bucket = aws_s3_bucket.photos.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 refuses a bucket policy while Block Public Access is being set on the same bucket.
  depends_on = [aws_s3_bucket_public_access_block.photos]
}
