<?php
/* WordPress of a webserv instance: the local MariaDB over its socket, fixed keys (the
 * golden data is made once and cloned per instance), no network calls outward. */
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', 'wordpress');
define('DB_HOST', 'localhost');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';

define('AUTH_KEY', 'webserv-auth-key-3c1f0d2a');
define('SECURE_AUTH_KEY', 'webserv-secure-auth-key-9b7e4a10');
define('LOGGED_IN_KEY', 'webserv-logged-in-key-5d2c8e71');
define('NONCE_KEY', 'webserv-nonce-key-e0a4f6b3');
define('AUTH_SALT', 'webserv-auth-salt-71c9d0e2');
define('SECURE_AUTH_SALT', 'webserv-secure-auth-salt-2f8b6a45');
define('LOGGED_IN_SALT', 'webserv-logged-in-salt-a6e3c197');
define('NONCE_SALT', 'webserv-nonce-salt-4b0d7f28');

/* Application passwords (the evaluators' REST access) over plain HTTP on 127.0.0.1. */
define('WP_ENVIRONMENT_TYPE', 'local');
/* The host has no route outward: every update check or feed would wait for a timeout. */
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('DISABLE_WP_CRON', true);
define('DISALLOW_FILE_MODS', true);
define('WP_DEFAULT_THEME', 'twentytwentyone');
/* Debian allows multisite by default; one blog per instance needs no network setup. */
define('WP_ALLOW_MULTISITE', false);
define('WP_DEBUG', false);
define('WP_DEBUG_DISPLAY', false);
