"""The whole pipeline on one machine: moto's server for SQS and DynamoDB, real PostgreSQL and Redis."""
