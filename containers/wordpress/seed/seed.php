<?php
/*
 * Load webserv's generated content (content.json, see webserv/sites/wordpress/content.py)
 * into a fresh WordPress through its own API, so every table, meta row and count is what
 * WordPress itself would write. Ids are given by the content and checked as they are made:
 * the task suite names posts, comments, users and terms by id.
 */

function fail(string $message): void
{
    fwrite(STDERR, "seed: $message\n");
    exit(1);
}

function check_id(string $what, $got, int $want): void
{
    if (is_wp_error($got)) {
        fail("$what $want: " . $got->get_error_message());
    }
    if ((int) $got !== $want) {
        fail("$what got id $got, the content expects $want");
    }
}

// No mail leaves the seed either (wp_install announces the new site).
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password): void
{
}

$content = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require ABSPATH . 'wp-admin/includes/upgrade.php';

global $wpdb;
$site = $content['site'];
$admin = $content['users'][0];
$installed = wp_install($site['title'], $admin['login'], $admin['email'], true, '', $admin['password']);
check_id('user', $installed['user_id'], $admin['id']);

// WordPress's sample post, page and comment go: ids start at 1 with the content's own.
foreach (['posts', 'postmeta', 'comments', 'commentmeta'] as $table) {
    $wpdb->query("TRUNCATE TABLE {$wpdb->$table}");
}
$wpdb->query("DELETE FROM {$wpdb->term_relationships}");
$wpdb->query("UPDATE {$wpdb->term_taxonomy} SET count = 0");
foreach ($site['options'] as $name => $value) {
    update_option($name, $value);
}
update_option('siteurl', $site['url']);
update_option('home', $site['url']);
update_option('wp_page_for_privacy_policy', 0);
update_option('fresh_site', 0);

wp_defer_term_counting(true);
wp_defer_comment_counting(true);
$wpdb->query('START TRANSACTION');

foreach ($content['users'] as $user) {
    $fields = [
        'user_login' => $user['login'],
        'user_pass' => $user['password'],
        'user_email' => $user['email'],
        'display_name' => $user['display_name'],
        'first_name' => $user['first_name'],
        'last_name' => $user['last_name'],
        'nickname' => $user['login'],
        'description' => $user['description'],
        'role' => $user['role'],
        'user_registered' => $user['registered'],
    ];
    // The welcome panel would push each user's dashboard down below it.
    $fields['meta_input'] = ['show_welcome_panel' => 0];
    if ($user['id'] === $admin['id']) {
        $fields['ID'] = $admin['id'];
        unset($fields['user_pass']);  // set by wp_install; an update would hash it again
        check_id('user', wp_update_user($fields), $user['id']);
        continue;
    }
    check_id('user', wp_insert_user($fields), $user['id']);
}

foreach ($content['terms'] as $term) {
    $made = wp_insert_term($term['name'], $term['taxonomy'], [
        'slug' => $term['slug'],
        'description' => $term['description'],
        'parent' => $term['parent'],
    ]);
    check_id($term['taxonomy'], is_wp_error($made) ? $made : $made['term_id'], $term['id']);
}

foreach ($content['posts'] as $post) {
    $fields = [
        'import_id' => $post['id'],
        'post_type' => $post['type'],
        'post_title' => $post['title'],
        'post_name' => $post['slug'],
        'post_content' => $post['content'],
        'post_excerpt' => $post['excerpt'],
        'post_status' => $post['status'],
        'post_author' => $post['author'],
        'post_date' => $post['date'],
        'post_parent' => $post['parent'],
        'menu_order' => $post['menu_order'],
        'comment_status' => $post['comment_status'],
        'ping_status' => 'closed',
    ];
    // A draft or pending post keeps a floating date, as one saved in the editor does.
    if (in_array($post['status'], ['publish', 'private'], true)) {
        $fields['post_date_gmt'] = $post['date'];
    }
    if ($post['type'] === 'post') {
        $fields['post_category'] = $post['categories'];
        $fields['tags_input'] = $post['tags'];
    }
    check_id('post', wp_insert_post(wp_slash($fields), true), $post['id']);
    if ($post['sticky']) {
        stick_post($post['id']);
    }
}

$uploads = wp_get_upload_dir();
foreach ($content['media'] as $media) {
    $fields = [
        'import_id' => $media['id'],
        'post_title' => $media['title'],
        'post_name' => $media['slug'],
        'post_content' => $media['description'],
        'post_excerpt' => $media['caption'],
        'post_mime_type' => $media['mime'],
        'post_status' => 'inherit',
        'post_author' => $media['author'],
        'post_date' => $media['date'],
        'post_date_gmt' => $media['date'],
        'guid' => $site['url'] . '/wp-content/uploads/' . $media['file'],
    ];
    $id = wp_insert_attachment(wp_slash($fields), $media['file'], $media['parent'], true);
    check_id('attachment', $id, $media['id']);
    update_post_meta($id, '_wp_attachment_image_alt', $media['alt']);
    wp_update_attachment_metadata($id, [
        'width' => $media['width'],
        'height' => $media['height'],
        'file' => $media['file'],
        'filesize' => $media['bytes'],
        'sizes' => [],
        'image_meta' => [],
    ]);
    if ($media['featured'] && $media['parent']) {
        set_post_thumbnail($media['parent'], $id);
    }
}

foreach ($content['comments'] as $comment) {
    $id = wp_insert_comment(wp_slash([
        'comment_post_ID' => $comment['post'],
        'comment_author' => $comment['author'],
        'comment_author_email' => $comment['email'],
        'comment_author_url' => $comment['url'],
        'comment_author_IP' => $comment['ip'],
        'comment_content' => $comment['content'],
        'comment_date' => $comment['date'],
        'comment_date_gmt' => $comment['date'],
        'comment_approved' => $comment['status'],
        'comment_parent' => $comment['parent'],
        'comment_agent' => 'Mozilla/5.0',
        'user_id' => $comment['user'],
    ]));
    check_id('comment', $id, $comment['id']);
}

// The evaluators read the REST API with this application password of the admin.
$key = $content['api'];
update_user_meta($admin['id'], '_application_passwords', [[
    'uuid' => $key['uuid'],
    'app_id' => '',
    'name' => $key['name'],
    'password' => wp_hash_password($key['password']),
    'created' => $key['created'],
    'last_used' => null,
    'last_ip' => null,
]]);
// Set by WordPress when it makes a password itself; without it none is ever checked.
update_network_option(null, WP_Application_Passwords::OPTION_KEY_IN_USE, true);

$wpdb->query('COMMIT');
wp_defer_term_counting(false);
wp_defer_comment_counting(false);
// Counts from the rows themselves, as a fresh site would hold them.
foreach (['category', 'post_tag'] as $taxonomy) {
    $ids = get_terms(['taxonomy' => $taxonomy, 'hide_empty' => false, 'fields' => 'tt_ids']);
    wp_update_term_count_now($ids, $taxonomy);
}
foreach ($content['posts'] as $post) {
    wp_update_comment_count_now($post['id']);
}
$wpdb->query("UPDATE {$wpdb->users} SET user_registered = '" . esc_sql($admin['registered']) . "' WHERE ID = " . (int) $admin['id']);

$counts = [
    'users' => (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->users}"),
    'posts' => (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->posts} WHERE post_type IN ('post', 'page')"),
    'media' => (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->posts} WHERE post_type = 'attachment'"),
    'comments' => (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->comments}"),
];
$want = [
    'users' => count($content['users']),
    'posts' => count($content['posts']),
    'media' => count($content['media']),
    'comments' => count($content['comments']),
];
if ($counts !== $want) {
    fail('loaded ' . json_encode($counts) . ', the content holds ' . json_encode($want));
}
echo 'seeded ' . json_encode($counts) . "\n";
