-- The change log of the replicas' in-memory title index (app/src/storage/title_index.rs).
-- Additive: the running release neither reads nor writes these tables; its house writes are not
-- logged, so a replica of the new release that loaded meanwhile misses them until the epoch
-- moves (`zufang search reindex` moves it; docs/performance.md, "Title search").

-- One row: `seq` counts house writes (each increments it in its transaction, and the row's lock
-- orders them, so the numbers commit in order and without gaps); `epoch` moves when rows are
-- written around the service (seed, reindex), and every replica then reloads.
CREATE TABLE search_clock (
    id    TINYINT UNSIGNED NOT NULL,
    epoch BIGINT UNSIGNED  NOT NULL,
    seq   BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO search_clock (id, epoch, seq) VALUES (1, 1, 0);

-- The house each numbered write changed (its row is read again; a missing row was deleted).
-- The writes keep the last 100,000 numbers.
CREATE TABLE house_changes (
    seq      BIGINT UNSIGNED NOT NULL,
    house_id INT UNSIGNED    NOT NULL,
    PRIMARY KEY (seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
