output "postgres_endpoint" {
  description = "host:port of the primary (BANK_DATABASE_URL / BANK_ADMIN_DATABASE_URL host)."
  value       = aws_db_instance.primary.endpoint
}

output "postgres_replica_endpoints" {
  description = "host:port of each streaming read replica."
  value       = aws_db_instance.replica[*].endpoint
}

output "postgres_master_user_secret_arn" {
  description = "Secrets Manager secret holding the owner role's generated password."
  value       = aws_db_instance.primary.master_user_secret[0].secret_arn
}

output "kafka_bootstrap_brokers" {
  description = "BANK_KAFKA_BOOTSTRAP: SASL/SCRAM over TLS bootstrap brokers."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "kafka_cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}

output "redis_primary_endpoint" {
  description = "Primary endpoint (use a rediss:// URL: TLS is on)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "redis_reader_endpoint" {
  description = "Reader endpoint of the Redis replicas."
  value       = aws_elasticache_replication_group.this.reader_endpoint_address
}

output "kms_key_arn" {
  description = "KMS key encrypting the data services; encrypt the MSK SCRAM secrets with it."
  value       = aws_kms_key.data.arn
}

output "security_group_ids" {
  description = "Security groups of PostgreSQL, Kafka and Redis."
  value = {
    postgres = aws_security_group.postgres.id
    kafka    = aws_security_group.kafka.id
    redis    = aws_security_group.redis.id
  }
}
