-- House photos (uploaded originals and their derived sizes) and the transactional outbox that
-- hands jobs to the message broker. Additive: no existing column changes meaning.

CREATE TABLE house_photos (
    id             INT UNSIGNED NOT NULL AUTO_INCREMENT,
    -- Object keys are derived from this, never from the id (test databases and restores reuse ids).
    uuid           CHAR(36)     NOT NULL,
    house_id       INT UNSIGNED NOT NULL,
    uploaded_by    INT UNSIGNED NULL COMMENT 'the user who uploaded it (NULL once that user is deleted)',
    status         ENUM('processing', 'ready', 'failed') NOT NULL DEFAULT 'processing',
    content_type   VARCHAR(32)  NOT NULL COMMENT 'decided from the bytes: image/jpeg, image/png, image/webp',
    bytes          INT UNSIGNED NOT NULL,
    sha256         CHAR(64)     NOT NULL COMMENT 'of the original upload',
    width          INT UNSIGNED NOT NULL COMMENT 'of the original, from its header',
    height         INT UNSIGNED NOT NULL,
    original_key   VARCHAR(255) NOT NULL COMMENT 'object key of the upload; never served',
    -- Filled by the worker when the photo becomes ready: JSON array of
    -- {"name": "large"|"small", "key": ..., "width": ..., "height": ..., "content_type": ..., "bytes": ...}.
    renditions     JSON         NULL,
    failure_reason VARCHAR(255) NULL,
    attempts       INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'worker attempts so far',
    created_at     DATETIME(6)  NOT NULL,
    updated_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_house_photos_uuid (uuid),
    KEY idx_house_photos_house (house_id, id),
    KEY idx_house_photos_user_created (uploaded_by, created_at),
    CONSTRAINT fk_house_photos_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE,
    CONSTRAINT fk_house_photos_user FOREIGN KEY (uploaded_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The house's chosen photo (PATCH ... {"is_main": true}); NULL = the first ready photo. The
-- existing main_photo column stays the URL the API shows (kept in step by the service).
ALTER TABLE houses ADD COLUMN main_photo_id INT UNSIGNED NULL AFTER main_photo;

-- Transactional outbox: a row is written in the same transaction as the change it announces and
-- deleted by the relay once the broker confirmed the message. A relay or broker outage only
-- delays rows here.
CREATE TABLE outbox (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    message_id    CHAR(36)     NOT NULL COMMENT 'AMQP message_id, the consumers'' idempotency key',
    exchange_name VARCHAR(64)  NOT NULL,
    routing_key   VARCHAR(64)  NOT NULL,
    payload       JSON         NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    attempts      INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    last_error    VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outbox_message (message_id),
    KEY idx_outbox_due (next_attempt_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
