-- HBNB schema (spec §2.2) for PostgreSQL. Timestamps are UTC (TIMESTAMP without time zone).
-- Foreign keys cascade: state -> cities -> places -> reviews and place_amenity links;
-- user -> places and reviews; amenity -> links.
CREATE TABLE states (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    name VARCHAR(128) NOT NULL
);

CREATE TABLE cities (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    state_id VARCHAR(60) NOT NULL REFERENCES states (id) ON DELETE CASCADE ON UPDATE CASCADE,
    name VARCHAR(128) NOT NULL
);
CREATE INDEX cities_state_id ON cities (state_id);

CREATE TABLE users (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    email VARCHAR(128) NOT NULL,
    password VARCHAR(128) NOT NULL,
    first_name VARCHAR(128),
    last_name VARCHAR(128)
);

CREATE TABLE amenities (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    name VARCHAR(128) NOT NULL
);

CREATE TABLE places (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    city_id VARCHAR(60) NOT NULL REFERENCES cities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    user_id VARCHAR(60) NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    name VARCHAR(128) NOT NULL,
    description VARCHAR(1024),
    number_rooms INTEGER NOT NULL DEFAULT 0,
    number_bathrooms INTEGER NOT NULL DEFAULT 0,
    max_guest INTEGER NOT NULL DEFAULT 0,
    price_by_night INTEGER NOT NULL DEFAULT 0,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION
);
CREATE INDEX places_city_id ON places (city_id);
CREATE INDEX places_user_id ON places (user_id);

CREATE TABLE reviews (
    id VARCHAR(60) NOT NULL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    place_id VARCHAR(60) NOT NULL REFERENCES places (id) ON DELETE CASCADE ON UPDATE CASCADE,
    user_id VARCHAR(60) NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    text VARCHAR(1024) NOT NULL
);
CREATE INDEX reviews_place_id ON reviews (place_id);
CREATE INDEX reviews_user_id ON reviews (user_id);

CREATE TABLE place_amenity (
    place_id VARCHAR(60) NOT NULL REFERENCES places (id) ON DELETE CASCADE ON UPDATE CASCADE,
    amenity_id VARCHAR(60) NOT NULL REFERENCES amenities (id) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (place_id, amenity_id)
);
CREATE INDEX place_amenity_amenity_id ON place_amenity (amenity_id);
