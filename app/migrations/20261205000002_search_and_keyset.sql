-- Title search, keyset pages and counts on large lists. Additive: the running release neither
-- reads nor writes these, and a house it writes meanwhile is indexed by `zufang search reindex`
-- (docs/performance.md, "Title search").

-- Keyset (`cursor`) pages of every ordering under the district, city and type filters read one
-- index range at any depth: (filter, ordering column) with the primary key as InnoDB's implicit
-- suffix, which is the cursor's tie-breaker. Estate filters match a few dozen rows: no index.
ALTER TABLE houses
    ADD KEY idx_houses_district_area (district_id, area),
    ADD KEY idx_houses_city_area (city_id, area),
    ADD KEY idx_houses_type_price (type_id, price),
    ADD KEY idx_houses_type_area (type_id, area);

-- The title's character bigrams and trigrams (within whitespace-separated words), one row per
-- (n-gram, house): `title=` reads the postings of the term's rarest n-grams instead of every
-- title, then checks the substring on those rows only. Written in the same transaction as the
-- house; the collation is the title's, so an n-gram matches exactly when LIKE's character
-- comparison would (case-insensitive as `title` is).
CREATE TABLE house_title_grams (
    gram     VARCHAR(3)   NOT NULL,
    house_id INT UNSIGNED NOT NULL,
    PRIMARY KEY (gram, house_id),
    KEY idx_house_title_grams_house (house_id),
    CONSTRAINT fk_house_title_grams_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Titles already there when this runs (an upgraded database) are indexed here: every substring
-- of two and three characters, a superset of what the service writes (it leaves out those with
-- whitespace, which no lookup asks for). seq_*: MariaDB's built-in Sequence engine.
INSERT IGNORE INTO house_title_grams (gram, house_id)
SELECT SUBSTRING(h.title, p.seq, n.seq), h.id
FROM houses h
JOIN seq_1_to_100 p ON p.seq < CHAR_LENGTH(h.title)
JOIN seq_2_to_3 n ON p.seq + n.seq - 1 <= CHAR_LENGTH(h.title);

-- Exact house counts of the lists a client opens most (everything, one city, one district, one
-- type), kept by the house writes in their transaction, so those counts cost one row read
-- instead of a COUNT(*) over the district's index range. scope_id is 0 for 'all'.
CREATE TABLE house_counts (
    scope    ENUM('all', 'city', 'district', 'type') NOT NULL,
    scope_id INT UNSIGNED NOT NULL,
    houses   INT NOT NULL,
    PRIMARY KEY (scope, scope_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO house_counts (scope, scope_id, houses) SELECT 'all', 0, COUNT(*) FROM houses;
INSERT INTO house_counts (scope, scope_id, houses) SELECT 'city', city_id, COUNT(*) FROM houses GROUP BY city_id;
INSERT INTO house_counts (scope, scope_id, houses) SELECT 'district', district_id, COUNT(*) FROM houses GROUP BY district_id;
INSERT INTO house_counts (scope, scope_id, houses) SELECT 'type', type_id, COUNT(*) FROM houses GROUP BY type_id;
