output "bucket_name" {
  description = "Name of the photo bucket (given to the app as ZUFANG__S3__BUCKET)."
  value       = aws_s3_bucket.photos.bucket
}

output "bucket_arn" {
  description = "ARN of the photo bucket; the app role's object and list grants name it."
  value       = aws_s3_bucket.photos.arn
}

output "kms_key_arn" {
  description = "Customer key the bucket encrypts with; the app role may use it through S3 only."
  value       = aws_kms_key.photos.arn
}
