<?php
/*
 * Plugin Name: webserv
 * Description: Keeps a cloned instance's admin screens the same whenever it is launched.
 */

// The admin e-mail check would interrupt the first login of a golden older than its interval.
add_filter('admin_email_check_interval', '__return_zero');
// No mail leaves an instance.
add_filter('pre_wp_mail', '__return_false');
// The site health and dashboard widgets ask remote servers; there are none to ask.
add_action('wp_dashboard_setup', function (): void {
    remove_meta_box('dashboard_primary', 'dashboard', 'side');
    remove_meta_box('dashboard_site_health', 'dashboard', 'normal');
});
add_filter('wp_fatal_error_handler_enabled', '__return_false');
// With plain permalinks the REST API is /?rest_route=...; the user is determined before
// WordPress marks the request as a REST one, so application passwords would be refused.
add_filter('application_password_is_api_request', function (bool $is_api): bool {
    return $is_api || isset($_GET['rest_route']);
});
// The classic editor: a form of named fields, as the admin's other screens are.
add_filter('use_block_editor_for_post', '__return_false');
add_filter('use_block_editor_for_post_type', '__return_false');
add_filter('use_widgets_block_editor', '__return_false');
