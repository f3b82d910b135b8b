# The photo store's contract: private, encrypted with its own key, versioned, TLS only, with
# lifecycle rules that bound what forgotten uploads and old versions cost.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name = "zufang-test"
}

run "private_and_owned_by_the_bucket_owner" {
  assert {
    condition     = aws_s3_bucket.photos.bucket == "zufang-test-photos-123456789012"
    error_message = "the bucket is <name>-photos-<account id>"
  }
  assert {
    condition     = alltrue([aws_s3_bucket_public_access_block.photos.block_public_acls, aws_s3_bucket_public_access_block.photos.block_public_policy, aws_s3_bucket_public_access_block.photos.ignore_public_acls, aws_s3_bucket_public_access_block.photos.restrict_public_buckets])
    error_message = "all four public access blocks are on"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.photos.bucket == aws_s3_bucket.photos.id && aws_s3_bucket_ownership_controls.photos.bucket == aws_s3_bucket.photos.id
    error_message = "the blocks apply to the photo bucket"
  }
  assert {
    condition     = aws_s3_bucket_ownership_controls.photos.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs are disabled (BucketOwnerEnforced): access is IAM only"
  }
}

run "encrypted_with_a_customer_key_of_its_own" {
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.photos.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
    error_message = "SSE-KMS, not SSE-S3"
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.photos.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.photos.arn && output.kms_key_arn == aws_kms_key.photos.arn
    error_message = "encrypted with the module's own key, which the app role is granted"
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.photos.rule).bucket_key_enabled
    error_message = "S3 bucket key on (fewer KMS requests)"
  }
  assert {
    condition     = aws_kms_key.photos.enable_key_rotation
    error_message = "the key rotates"
  }
}

run "versioned_with_lifecycle_rules" {
  variables {
    noncurrent_version_days         = 7
    abort_incomplete_multipart_days = 2
  }
  assert {
    condition     = aws_s3_bucket_versioning.photos.versioning_configuration[0].status == "Enabled"
    error_message = "versioning is on"
  }
  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.photos.rule : r.abort_incomplete_multipart_upload[0].days_after_initiation if r.id == "abort-incomplete-multipart-uploads" && r.status == "Enabled"] == [2]
    error_message = "unfinished multipart uploads are aborted after abort_incomplete_multipart_days"
  }
  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.photos.rule : r.noncurrent_version_expiration[0].noncurrent_days if r.id == "expire-noncurrent-versions" && r.status == "Enabled"] == [7]
    error_message = "noncurrent versions expire after noncurrent_version_days"
  }
}

run "tls_only" {
  assert {
    condition     = data.aws_iam_policy_document.bucket.statement[0].effect == "Deny" && data.aws_iam_policy_document.bucket.statement[0].resources == toset([aws_s3_bucket.photos.arn, "${aws_s3_bucket.photos.arn}/*"])
    error_message = "the bucket policy denies, on the bucket and every object"
  }
  assert {
    condition     = one(data.aws_iam_policy_document.bucket.statement[0].condition).variable == "aws:SecureTransport" && one(data.aws_iam_policy_document.bucket.statement[0].condition).values == tolist(["false"])
    error_message = "every request not over TLS"
  }
  assert {
    condition     = length(data.aws_iam_policy_document.bucket.statement) == 1 && aws_s3_bucket_policy.photos.bucket == aws_s3_bucket.photos.id
    error_message = "the bucket policy grants nothing: access is on the app role only"
  }
}

run "keeping_no_old_versions_is_refused" {
  command = plan
  variables {
    noncurrent_version_days = 0
  }
  expect_failures = [var.noncurrent_version_days]
}
