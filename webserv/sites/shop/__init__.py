"""The embedded shop: storefront, admin CMS, data generator."""

# Version of the golden data format; bump it when the seeder's output changes.
SITE_VERSION = "1"
