variable "name" {
  description = "Prefix for every resource name, e.g. bank-prod."
  type        = string
  default     = "bank"
}

variable "vpc_id" {
  description = "VPC that holds the data services and the Kubernetes nodes."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in three availability zones (one MSK broker per zone)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) == 3
    error_message = "MSK with 3 brokers needs exactly three subnets, one per availability zone."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of the workloads (EKS nodes or pods) allowed to reach PostgreSQL, Kafka and Redis."
  type        = list(string)
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# ---- PostgreSQL (RDS) ----

variable "postgres_engine_version" {
  description = "RDS PostgreSQL engine version (major.minor)."
  type        = string
  default     = "17.6"
}

variable "postgres_parameter_family" {
  description = "Parameter group family matching the engine major version."
  type        = string
  default     = "postgres17"
}

variable "postgres_instance_class" {
  description = "Instance class of the primary and the read replica."
  type        = string
  default     = "db.r6g.large"
}

variable "postgres_allocated_storage_gb" {
  description = "Initial storage of the primary, in GiB."
  type        = number
  default     = 100
}

variable "postgres_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling, in GiB."
  type        = number
  default     = 1000
}

variable "postgres_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "postgres_max_slot_wal_keep_size_mb" {
  description = "Cap on WAL a stalled replication slot may retain (MB) before PostgreSQL invalidates it."
  type        = number
  default     = 16384
}

variable "postgres_read_replica_count" {
  description = "Number of streaming read replicas of the primary."
  type        = number
  default     = 1
}

# ---- Kafka (MSK) ----

variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster (KRaft)."
  type        = string
  default     = "3.9.x.kraft"
}

variable "kafka_broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "kafka_broker_volume_gb" {
  description = "EBS storage per broker, in GiB."
  type        = number
  default     = 500
}

# ---- Redis (ElastiCache) ----

variable "redis_engine_version" {
  description = "ElastiCache Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_auth_token" {
  description = "Redis AUTH token (16-128 chars). Pass it from a secret store (TF_VAR_redis_auth_token); never commit it."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.redis_auth_token) >= 16 && length(var.redis_auth_token) <= 128
    error_message = "The Redis AUTH token must be 16 to 128 characters long."
  }
}

variable "log_retention_days" {
  description = "CloudWatch retention of the database, broker and cache logs."
  type        = number
  default     = 365
}

variable "kafka_scram_secret_arns" {
  description = <<-EOT
    Secrets Manager secrets (name prefix AmazonMSK_, encrypted with this module's KMS key,
    created outside Terraform so no password is in state) holding the SCRAM users of the
    CDC connector, the projection workers and the API.
  EOT
  type        = list(string)
  default     = []
}
