-- zufang schema: InnoDB, utf8mb4. Applied by `zufang migrate`; never edit once applied, add a new file.

CREATE TABLE districts (
    id        INT UNSIGNED NOT NULL AUTO_INCREMENT,
    parent_id INT UNSIGNED NULL COMMENT 'NULL for provinces; a province for cities; a city for districts',
    name      VARCHAR(64)  NOT NULL,
    is_hot    TINYINT(1)   NOT NULL DEFAULT 0,
    intro     VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY idx_districts_parent (parent_id, id),
    KEY idx_districts_hot (is_hot, parent_id),
    CONSTRAINT fk_districts_parent FOREIGN KEY (parent_id) REFERENCES districts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE agents (
    id           INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name         VARCHAR(32)  NOT NULL,
    tel          CHAR(11)     NOT NULL,
    servstar     TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'service rating 0-5',
    realstar     TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'realness rating 0-5',
    profstar     TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'professionalism rating 0-5',
    is_certified TINYINT(1)   NOT NULL DEFAULT 0,
    user_id      INT UNSIGNED NULL COMMENT 'the login of this agent, when they have one',
    PRIMARY KEY (id),
    KEY idx_agents_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE estates (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
    district_id INT UNSIGNED NOT NULL,
    name        VARCHAR(255) NOT NULL,
    hot         INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'popularity counter',
    intro       VARCHAR(1024) NOT NULL DEFAULT '',
    version     INT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'optimistic concurrency',
    PRIMARY KEY (id),
    -- dist (+ minhot/maxhot range, + ordering by hot)
    KEY idx_estates_district_hot (district_id, hot),
    -- name prefix (LIKE 'x%') and ordering by name
    KEY idx_estates_name (name),
    -- minhot/maxhot without dist, ordering by hot
    KEY idx_estates_hot (hot),
    CONSTRAINT fk_estates_district FOREIGN KEY (district_id) REFERENCES districts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE agent_estates (
    agent_id  INT UNSIGNED NOT NULL,
    estate_id INT UNSIGNED NOT NULL,
    PRIMARY KEY (agent_id, estate_id),
    KEY idx_agent_estates_estate (estate_id, agent_id),
    CONSTRAINT fk_agent_estates_agent FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_estates_estate FOREIGN KEY (estate_id) REFERENCES estates (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE house_types (
    id   INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(32)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_house_types_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tags (
    id   INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(32)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_tags_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE users (
    id            INT UNSIGNED NOT NULL AUTO_INCREMENT,
    username      VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    tel           CHAR(11)     NOT NULL,
    realname      VARCHAR(32)  NOT NULL DEFAULT '',
    email         VARCHAR(255) NOT NULL DEFAULT '',
    is_active     TINYINT(1)   NOT NULL DEFAULT 1,
    last_visit    DATETIME     NULL,
    created_at    DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_username (username),
    UNIQUE KEY uq_users_tel (tel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE houses (
    id             INT UNSIGNED NOT NULL AUTO_INCREMENT,
    title          VARCHAR(100) NOT NULL,
    area           INT UNSIGNED NOT NULL COMMENT 'square metres',
    floor          SMALLINT UNSIGNED NOT NULL,
    total_floor    SMALLINT UNSIGNED NOT NULL,
    direction      VARCHAR(16)  NOT NULL,
    price          INT UNSIGNED NOT NULL,
    price_unit     VARCHAR(16)  NOT NULL DEFAULT '元/月',
    detail         VARCHAR(2048) NOT NULL DEFAULT '',
    main_photo     VARCHAR(255) NOT NULL DEFAULT '',
    published_at   DATETIME     NOT NULL,
    street         VARCHAR(255) NOT NULL DEFAULT '',
    has_agent_fees TINYINT(1)   NOT NULL DEFAULT 0,
    type_id        INT UNSIGNED NOT NULL,
    estate_id      INT UNSIGNED NOT NULL,
    agent_id       INT UNSIGNED NULL,
    user_id        INT UNSIGNED NULL COMMENT 'owner (the agent user who published it)',
    city_id        INT UNSIGNED NOT NULL,
    district_id    INT UNSIGNED NOT NULL,
    version        INT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'optimistic concurrency (ETag)',
    PRIMARY KEY (id),
    -- Each list filter has an index whose prefix is the filter and whose suffix is the default
    -- sort, so filter + first page reads a range instead of the table.
    KEY idx_houses_published (published_at),
    KEY idx_houses_price (price),
    KEY idx_houses_area (area),
    KEY idx_houses_district_published (district_id, published_at),
    KEY idx_houses_district_price (district_id, price),
    KEY idx_houses_city_published (city_id, published_at),
    KEY idx_houses_city_price (city_id, price),
    KEY idx_houses_estate_published (estate_id, published_at),
    KEY idx_houses_type_published (type_id, published_at),
    -- Substring search cannot seek, but scanning this narrow covering index is far cheaper than
    -- the clustered rows (and it serves the count).
    KEY idx_houses_title (title),
    KEY idx_houses_user (user_id),
    KEY idx_houses_agent (agent_id),
    CONSTRAINT fk_houses_type FOREIGN KEY (type_id) REFERENCES house_types (id),
    CONSTRAINT fk_houses_estate FOREIGN KEY (estate_id) REFERENCES estates (id),
    CONSTRAINT fk_houses_agent FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT fk_houses_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT fk_houses_city FOREIGN KEY (city_id) REFERENCES districts (id),
    CONSTRAINT fk_houses_district FOREIGN KEY (district_id) REFERENCES districts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE house_tags (
    house_id INT UNSIGNED NOT NULL,
    tag_id   INT UNSIGNED NOT NULL,
    PRIMARY KEY (house_id, tag_id),
    KEY idx_house_tags_tag (tag_id, house_id),
    CONSTRAINT fk_house_tags_house FOREIGN KEY (house_id) REFERENCES houses (id) ON DELETE CASCADE,
    CONSTRAINT fk_house_tags_tag FOREIGN KEY (tag_id) REFERENCES tags (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE roles (
    id    INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name  VARCHAR(32)  NOT NULL,
    intro VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY uq_roles_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE privileges (
    id     INT UNSIGNED NOT NULL AUTO_INCREMENT,
    method VARCHAR(8)   NOT NULL COMMENT 'HTTP method, or * for any',
    route  VARCHAR(255) NOT NULL COMMENT 'route pattern as the router matches it, e.g. /api/houses/{id}/',
    intro  VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY uq_privileges_method_route (method, route)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE user_roles (
    user_id INT UNSIGNED NOT NULL,
    role_id INT UNSIGNED NOT NULL,
    PRIMARY KEY (user_id, role_id),
    KEY idx_user_roles_role (role_id),
    CONSTRAINT fk_user_roles_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_user_roles_role FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE role_privileges (
    role_id      INT UNSIGNED NOT NULL,
    privilege_id INT UNSIGNED NOT NULL,
    PRIMARY KEY (role_id, privilege_id),
    KEY idx_role_privileges_privilege (privilege_id),
    CONSTRAINT fk_role_privileges_role FOREIGN KEY (role_id) REFERENCES roles (id) ON DELETE CASCADE,
    CONSTRAINT fk_role_privileges_privilege FOREIGN KEY (privilege_id) REFERENCES privileges (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE login_logs (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id    INT UNSIGNED NOT NULL,
    ip         VARCHAR(45)  NOT NULL,
    user_agent VARCHAR(255) NOT NULL DEFAULT '',
    created_at DATETIME     NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY idx_login_logs_user (user_id, created_at),
    CONSTRAINT fk_login_logs_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
