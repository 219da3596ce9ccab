//! The backend test suite (`tower_taxii::testkit`) against `PostgresBackend`, each
//! backend in a schema of its own. Skips when PostgreSQL does not answer (fails
//! when `CI` is set).
#![cfg(all(feature = "testkit", feature = "postgres"))]

mod common;
mod postgres_support;

tower_taxii::backend_tests!(optional postgres_support::PgFactory::if_available());
