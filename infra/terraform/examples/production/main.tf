# Example root module: the production data services in one region.
#   terraform init && terraform plan -var-file=production.tfvars
# (TF_VAR_redis_auth_token from the secret store; never in a tfvars file.)

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC of the EKS cluster."
  type        = string
}

variable "private_subnet_ids" {
  description = "Three private subnets, one per availability zone."
  type        = list(string)
}

variable "eks_node_security_group_id" {
  description = "Security group of the EKS nodes running the platform."
  type        = string
}

variable "redis_auth_token" {
  description = "Redis AUTH token, from the secret store."
  type        = string
  sensitive   = true
}

module "bank_data" {
  source = "../../modules/bank-data-aws"

  name                      = "bank-prod"
  vpc_id                    = var.vpc_id
  private_subnet_ids        = var.private_subnet_ids
  client_security_group_ids = [var.eks_node_security_group_id]
  redis_auth_token          = var.redis_auth_token
  tags                      = { environment = "production" }
}

output "postgres_endpoint" {
  description = "Primary PostgreSQL endpoint."
  value       = module.bank_data.postgres_endpoint
}

output "kafka_bootstrap_brokers" {
  description = "MSK bootstrap brokers (SASL/SCRAM, TLS)."
  value       = module.bank_data.kafka_bootstrap_brokers
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint."
  value       = module.bank_data.redis_primary_endpoint
}
