# Managed data services for the banking platform on AWS:
#   RDS PostgreSQL (logical replication on, Multi-AZ primary + streaming read replica)
#   MSK Kafka (3 brokers in 3 AZs, replication 3, min.insync.replicas 2, TLS + SASL/SCRAM)
#   ElastiCache Redis (primary + replica, automatic failover, TLS + AUTH)
# One customer-managed KMS key encrypts storage, logs and the generated secrets.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  tags = merge({ "app" = "bank", "managed-by" = "terraform" }, var.tags)
}

resource "aws_kms_key" "data" {
  description             = "${var.name}: data services (RDS, MSK, ElastiCache, logs, secrets)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "kms" {
  # A KMS key policy is attached to one key: its Resource "*" means that key alone,
  # and the account-root statement is AWS's required default (IAM then scopes use).
  # checkov:skip=CKV_AWS_111:Key policy; "*" is this key, administration stays with the account.
  # checkov:skip=CKV_AWS_356:Key policy; "*" is this key, not every resource.
  # checkov:skip=CKV_AWS_109:Key policy; the account root must be able to manage its own key.
  # Key administration stays with the account (IAM policies then grant use).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the log groups below with this key.
  statement {
    sid       = "CloudWatchLogsUse"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/bank/${var.name}/*"]
    }
  }
}

# ---- Network: each service admits only the workloads' security groups. ----

resource "aws_security_group" "postgres" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL: reachable from the platform workloads only"
  vpc_id      = var.vpc_id
  tags        = local.tags

  ingress {
    description     = "PostgreSQL from API, CDC and projection workers"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = var.client_security_group_ids
  }
}

resource "aws_security_group" "kafka" {
  name        = "${var.name}-kafka"
  description = "MSK: reachable from the platform workloads only"
  vpc_id      = var.vpc_id
  tags        = local.tags

  ingress {
    description     = "Kafka SASL/SCRAM over TLS from the platform workloads"
    from_port       = 9096
    to_port         = 9096
    protocol        = "tcp"
    security_groups = var.client_security_group_ids
  }
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis: reachable from the platform workloads only"
  vpc_id      = var.vpc_id
  tags        = local.tags

  ingress {
    description     = "Redis over TLS from the API and projection workers"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = var.client_security_group_ids
  }
}

resource "aws_cloudwatch_log_group" "kafka" {
  name              = "/bank/${var.name}/msk"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
  tags              = local.tags
}

resource "aws_cloudwatch_log_group" "redis" {
  name              = "/bank/${var.name}/redis-slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.data.arn
  tags              = local.tags
}
