-- The shop's data model: one SQLite file (shop.db) in the data dir, product images
-- beside it under media/. Money is integer cents; times are ISO-8601 UTC text.
PRAGMA foreign_keys = ON;

CREATE TABLE categories (
    id          INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES categories(id),
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE brands (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE products (
    id            INTEGER PRIMARY KEY,
    sku           TEXT NOT NULL UNIQUE,
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    category_id   INTEGER NOT NULL REFERENCES categories(id),
    brand_id      INTEGER NOT NULL REFERENCES brands(id),
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    special_cents INTEGER CHECK (special_cents IS NULL OR special_cents >= 0),
    stock         INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    description   TEXT NOT NULL DEFAULT '',
    -- JSON object of option name -> list of values, e.g. {"Size": ["S","M"], "Color": ["Red"]}
    options_json  TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    is_featured   INTEGER NOT NULL DEFAULT 0,
    -- denormalised from approved reviews, kept current by the app
    rating_avg    REAL NOT NULL DEFAULT 0,
    rating_count  INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX products_category ON products(category_id);
CREATE INDEX products_brand ON products(brand_id);
CREATE INDEX products_price ON products(price_cents);

CREATE TABLE product_images (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,          -- relative to the data dir, e.g. media/products/0001/1.png
    alt        TEXT NOT NULL DEFAULT '',
    position   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX product_images_product ON product_images(product_id);

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,       -- pbkdf2_sha256$iterations$salt_hex$hash_hex
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    phone         TEXT NOT NULL DEFAULT '',
    street        TEXT NOT NULL DEFAULT '',
    city          TEXT NOT NULL DEFAULT '',
    region        TEXT NOT NULL DEFAULT '',
    postcode      TEXT NOT NULL DEFAULT '',
    country       TEXT NOT NULL DEFAULT 'US',
    created_at    TEXT NOT NULL
);

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    name          TEXT NOT NULL
);

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,  -- e.g. 000000123
    customer_id     INTEGER NOT NULL REFERENCES customers(id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'shipped', 'complete', 'canceled', 'refunded')),
    shipping_method TEXT NOT NULL,         -- 'standard' | 'express' | 'pickup'
    subtotal_cents  INTEGER NOT NULL,
    shipping_cents  INTEGER NOT NULL,
    total_cents     INTEGER NOT NULL,
    ship_name       TEXT NOT NULL,
    ship_street     TEXT NOT NULL,
    ship_city       TEXT NOT NULL,
    ship_region     TEXT NOT NULL,
    ship_postcode   TEXT NOT NULL,
    ship_country    TEXT NOT NULL,
    ship_phone      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_created ON orders(created_at);
CREATE INDEX orders_status ON orders(status);

CREATE TABLE order_items (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    product_id  INTEGER NOT NULL REFERENCES products(id),
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '',  -- "Size: M, Color: Red"
    price_cents INTEGER NOT NULL,
    qty         INTEGER NOT NULL CHECK (qty > 0)
);
CREATE INDEX order_items_order ON order_items(order_id);
CREATE INDEX order_items_product ON order_items(product_id);

CREATE TABLE order_history (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL DEFAULT 'system',
    created_at TEXT NOT NULL
);
CREATE INDEX order_history_order ON order_history(order_id);

CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    customer_id INTEGER REFERENCES customers(id),
    nickname    TEXT NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at  TEXT NOT NULL
);
CREATE INDEX reviews_product ON reviews(product_id, status);
CREATE INDEX reviews_status ON reviews(status);

CREATE TABLE carts (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL UNIQUE,      -- the anonymous cart cookie
    customer_id INTEGER REFERENCES customers(id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE cart_items (
    id         INTEGER PRIMARY KEY,
    cart_id    INTEGER NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id),
    options    TEXT NOT NULL DEFAULT '',
    qty        INTEGER NOT NULL CHECK (qty > 0),
    UNIQUE (cart_id, product_id, options)
);

CREATE TABLE wishlist (
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    added_at    TEXT NOT NULL,
    PRIMARY KEY (customer_id, product_id)
);

-- Login sessions of customers and admins live in the data dir too, so a clone of the
-- data dir carries (or, for golden data, carries none of) the logged-in state.
CREATE TABLE sessions (
    token       TEXT PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id) ON DELETE CASCADE,
    admin_id    INTEGER REFERENCES admins(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    CHECK ((customer_id IS NULL) <> (admin_id IS NULL))
);

CREATE TABLE newsletter (
    email      TEXT PRIMARY KEY COLLATE NOCASE,
    created_at TEXT NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
