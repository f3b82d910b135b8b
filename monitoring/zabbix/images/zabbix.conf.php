<?php
// Zabbix front end configuration of the offline zabbix-web image. Every value comes from the
// environment, with the names and defaults of the official zabbix-web-*-mysql images, and is read
// on each request (CConfigFile includes this file): no address or password is baked in, and a
// rotated password file is picked up without a restart. Closures, not functions: the file may be
// included more than once per request.
$env = static function (string $name, string $default = ''): string {
	$value = getenv($name);
	return ($value === false || $value === '') ? $default : $value;
};
// NAME_FILE (a secret file, trailing newline dropped) wins over NAME, like the official images.
$secret = static function (string $name, string $default = '') use ($env): string {
	$file = $env($name.'_FILE');
	if ($file === '') {
		return $env($name, $default);
	}
	$value = @file_get_contents($file);
	if ($value === false) {
		error_log("zabbix.conf.php: cannot read {$name}_FILE={$file}");
		return '';
	}
	return rtrim($value, "\r\n");
};

$DB['TYPE']				= 'MYSQL';
$DB['SERVER']			= $env('DB_SERVER_HOST', 'mysql-server');
$DB['PORT']				= $env('DB_SERVER_PORT', '3306');
$DB['DATABASE']			= $env('MYSQL_DATABASE', 'zabbix');
$DB['USER']				= $secret('MYSQL_USER', 'zabbix');
$DB['PASSWORD']			= $secret('MYSQL_PASSWORD');
$DB['SCHEMA']			= '';
$DB['ENCRYPTION']		= $env('ZBX_DB_ENCRYPTION', 'false') === 'true';
$DB['KEY_FILE']			= $env('ZBX_DB_KEY_FILE');
$DB['CERT_FILE']		= $env('ZBX_DB_CERT_FILE');
$DB['CA_FILE']			= $env('ZBX_DB_CA_FILE');
$DB['VERIFY_HOST']		= $env('ZBX_DB_VERIFY_HOST', 'false') === 'true';
$DB['CIPHER_LIST']		= $env('ZBX_DB_CIPHER_LIST');
$DB['VAULT_URL']		= '';
$DB['VAULT_DB_PATH']	= '';
$DB['VAULT_TOKEN']		= '';
// A 6.0 schema created fresh (ours) stores floats as IEEE 754 doubles.
$DB['DOUBLE_IEEE754']	= $env('DB_DOUBLE_IEEE754', 'true') === 'true';

$ZBX_SERVER				= $env('ZBX_SERVER_HOST', 'zabbix-server');
$ZBX_SERVER_PORT		= $env('ZBX_SERVER_PORT', '10051');
$ZBX_SERVER_NAME		= $env('ZBX_SERVER_NAME');

$IMAGE_FORMAT_DEFAULT	= IMAGE_FORMAT_PNG;
