//! The bulk seed drops secondary indexes for the load and rebuilds them: the seeded schema is
//! the migrated one, index for index.
use sqlx::MySqlPool;

use crate::helpers::{spawn_app, spawn_app_with};

async fn indexes(db: &MySqlPool) -> Vec<(String, String, i64, String)> {
    sqlx::query_as(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE ORDER BY TABLE_NAME, INDEX_NAME",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_seeded_database_has_every_index_of_a_migrated_one() {
    let seeded = spawn_app().await;
    let empty = spawn_app_with(&[], None).await;
    let (a, b) = (indexes(&seeded.db).await, indexes(&empty.db).await);
    assert!(b.iter().any(|i| i.1 == "idx_houses_district_area"), "{b:?}");
    assert_eq!(a, b);
    let grams: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT house_id) FROM house_title_grams")
        .fetch_one(&seeded.db)
        .await
        .unwrap();
    let houses: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM houses").fetch_one(&seeded.db).await.unwrap();
    assert_eq!(grams, houses, "every seeded title is indexed");
}
