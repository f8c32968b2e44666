-- HBNB schema (spec §2.2) for MySQL/MariaDB: the course's tables and column types (VARCHAR(60)
-- ids, VARCHAR(128)/VARCHAR(1024) text, INT counts), with DATETIME(6) timestamps (microseconds,
-- as the other engines keep), DOUBLE coordinates and a case- and accent-sensitive, no-pad
-- collation (MariaDB 10.10+), so that lookups and trailing spaces behave as on SQLite and
-- PostgreSQL; the queries sort text by its bytes (ORDER BY BINARY name), as those do. Not a _bin
-- collation: its columns are flagged binary and sqlx will not read them as text. Timestamps are UTC.
-- A database the course made (no _sqlx_migrations, the seven tables present) is adopted as it is
-- instead (storage/src/mysql.rs, baseline): this file is then recorded as applied, not run.
-- Foreign keys cascade as on the other engines; deletes also cascade in SQL, because a course
-- database's keys do not.
CREATE TABLE states (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    name VARCHAR(128) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;

CREATE TABLE cities (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    state_id VARCHAR(60) NOT NULL,
    name VARCHAR(128) NOT NULL,
    KEY cities_state_id (state_id),
    FOREIGN KEY (state_id) REFERENCES states (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;

CREATE TABLE users (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    email VARCHAR(128) NOT NULL,
    password VARCHAR(128) NOT NULL,
    first_name VARCHAR(128),
    last_name VARCHAR(128)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;

CREATE TABLE amenities (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    name VARCHAR(128) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;

CREATE TABLE places (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    city_id VARCHAR(60) NOT NULL,
    user_id VARCHAR(60) NOT NULL,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(1024),
    number_rooms INT NOT NULL DEFAULT 0,
    number_bathrooms INT NOT NULL DEFAULT 0,
    max_guest INT NOT NULL DEFAULT 0,
    price_by_night INT NOT NULL DEFAULT 0,
    latitude DOUBLE,
    longitude DOUBLE,
    KEY places_city_id (city_id),
    KEY places_user_id (user_id),
    FOREIGN KEY (city_id) REFERENCES cities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;

CREATE TABLE reviews (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    place_id VARCHAR(60) NOT NULL,
    user_id VARCHAR(60) NOT NULL,
    text VARCHAR(1024) NOT NULL,
    KEY reviews_place_id (place_id),
    KEY reviews_user_id (user_id),
    FOREIGN KEY (place_id) REFERENCES places (id) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;

CREATE TABLE place_amenity (
    place_id VARCHAR(60) NOT NULL,
    amenity_id VARCHAR(60) NOT NULL,
    PRIMARY KEY (place_id, amenity_id),
    KEY place_amenity_amenity_id (amenity_id),
    FOREIGN KEY (place_id) REFERENCES places (id) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY (amenity_id) REFERENCES amenities (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_uca1400_nopad_as_cs;
