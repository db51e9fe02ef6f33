<?php
// Pressluft's WordPress-level work on a node, through WordPress's own PHP APIs (no wp-cli).
// Run by envctl.py as the environment's own user:
//   php wp_helper.php <release dir> install|status|update   (JSON input on stdin)
// Prints one JSON object on the last line of stdout; anything WordPress prints comes before.
// `status` loads WordPress as a front-end request would (theme and plugins included), so a
// fatal error in either shows here as a missing answer, and the exit status says so.

if (PHP_SAPI !== 'cli' || $argc !== 3) {
    fwrite(STDERR, "usage: php wp_helper.php <release dir> install|status|update\n");
    exit(2);
}
$root = rtrim($argv[1], '/');
$command = $argv[2];
$input = json_decode(stream_get_contents(STDIN) ?: '{}', true);
if (!is_array($input)) {
    fwrite(STDERR, "wp_helper: input is not a JSON object\n");
    exit(2);
}

// WordPress reads these as if a request came in; without them it guesses URLs from paths.
$url = parse_url($input['url'] ?? 'http://localhost/');
$_SERVER['HTTP_HOST'] = $url['host'] . (isset($url['port']) ? ':' . $url['port'] : '');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_NAME'] = $url['host'];
$_SERVER['SERVER_PORT'] = $url['port'] ?? (($url['scheme'] ?? 'http') === 'https' ? 443 : 80);
if (($url['scheme'] ?? 'http') === 'https') {
    $_SERVER['HTTPS'] = 'on';
}

function answer(array $result): void
{
    echo "\n" . json_encode($result) . "\n";
}

if ($command === 'install') {
    define('WP_INSTALLING', true);
    // Pluggable: defined before upgrade.php so the install sends no "new site" mail.
    function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password)
    {
    }
    require $root . '/wp-load.php';
    require_once ABSPATH . 'wp-admin/includes/upgrade.php';
    if (is_blog_installed()) {
        answer(['installed' => true, 'changed' => false]);
        exit(0);
    }
    $result = wp_install(
        (string) $input['title'],
        (string) $input['admin_user'],
        (string) $input['admin_email'],
        true,
        '',
        wp_slash((string) $input['admin_password'])
    );
    if (empty($result['user_id'])) {
        fwrite(STDERR, "wp_helper: wp_install did not create the admin user\n");
        exit(1);
    }
    answer(['installed' => true, 'changed' => true]);
    exit(0);
}

if ($command === 'update') {
    // Run by envctl on a writable copy of the release (never the live one).
    define('DISALLOW_FILE_MODS', false);
    define('FS_METHOD', 'direct');
    require $root . '/wp-load.php';
    require_once ABSPATH . 'wp-admin/includes/admin.php';
    require_once ABSPATH . 'wp-admin/includes/class-wp-upgrader.php';
    $scope = (string) ($input['scope'] ?? 'all');
    $done = [];
    $failed = [];
    $skin = new Automatic_Upgrader_Skin();
    foreach (($input['packages'] ?? []) as $package) {
        $upgrader = ($package['type'] === 'theme') ? new Theme_Upgrader($skin)
            : new Plugin_Upgrader($skin);
        $result = $upgrader->install($package['path'], ['overwrite_package' => true]);
        if ($result === true) {
            $done[] = $package['type'] . ': ' . basename($package['path']);
        } else {
            $failed[] = basename($package['path']) . ': ' . implode(' ', $skin->get_upgrade_messages());
        }
    }
    if (empty($input['packages'])) {
        if ($scope === 'plugins' || $scope === 'all') {
            wp_update_plugins();
            $pending = array_keys((array) (get_site_transient('update_plugins')->response ?? []));
            if ($pending) {
                $results = (new Plugin_Upgrader($skin))->bulk_upgrade($pending);
                foreach ((array) $results as $plugin => $result) {
                    if ($result && !is_wp_error($result)) { $done[] = "plugin: $plugin"; }
                    else { $failed[] = "plugin: $plugin"; }
                }
            }
        }
        if ($scope === 'themes' || $scope === 'all') {
            wp_update_themes();
            $pending = array_keys((array) (get_site_transient('update_themes')->response ?? []));
            if ($pending) {
                $results = (new Theme_Upgrader($skin))->bulk_upgrade($pending);
                foreach ((array) $results as $theme => $result) {
                    if ($result && !is_wp_error($result)) { $done[] = "theme: $theme"; }
                    else { $failed[] = "theme: $theme"; }
                }
            }
        }
        if ($scope === 'core' || $scope === 'all') {
            wp_version_check();
            $offer = get_preferred_from_update_core();
            if ($offer && $offer->response === 'upgrade') {
                $result = (new Core_Upgrader($skin))->upgrade($offer);
                if (is_wp_error($result)) { $failed[] = 'core: ' . $result->get_error_message(); }
                else { $done[] = "core: $result"; }
            }
        }
    }
    answer(['updated' => $done, 'failed' => $failed]);
    exit($failed ? 1 : 0);
}

if ($command === 'status') {
    require $root . '/wp-load.php';  // exits quietly (redirect to install.php) if not installed
    global $wpdb;
    $db = $wpdb->get_var('SELECT 1') === '1';
    answer(['installed' => is_blog_installed(), 'db' => $db, 'version' => get_bloginfo('version'),
            'name' => get_bloginfo('name')]);
    exit($db ? 0 : 1);
}

fwrite(STDERR, "wp_helper: unknown command $command\n");
exit(2);
