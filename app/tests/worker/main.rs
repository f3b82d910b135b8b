//! `zufang worker` (the real binary, as a child process) against a real RabbitMQ and Garage
//! (scripts/ci/photo-services.sh) and MariaDB and Redis (scripts/ci/services.sh). Each test has
//! its own database, Redis prefix and broker vhost (the topology of rabbitmq/definitions.json,
//! imported through the management API), so no test sees another's messages.
mod harness;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod dlq;
mod jobs;
