#!/usr/bin/perl
# Writes the small MaxMind-format databases the unit tests and the
# integration tests use: a country database shaped like the packaged
# ip-location-db one (top-level country_code) and an ASN database shaped
# like GeoLite2-ASN (autonomous_system_number).
# usage: make-test-mmdb.pl OUTDIR
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUTDIR\n";

sub tree {
	my ($type, $types) = @_;
	return MaxMind::DB::Writer::Tree->new(
		ip_version => 6,
		record_size => 24,
		database_type => $type,
		languages => ['en'],
		description => { en => "AffTok test $type" },
		map_key_type_callback => sub { $types->{ $_[0] } },
		remove_reserved_networks => 0,
	);
}

my $c = tree('afftok-test-country', { country_code => 'utf8_string' });
my %country = (
	'8.8.8.0/24' => 'US', '3.0.0.0/9' => 'US', '192.0.2.0/25' => 'US',
	'5.9.0.0/16' => 'DE', '192.0.2.128/25' => 'DE', '198.51.100.0/24' => 'FR',
	'2001:db8:1::/48' => 'US', '2001:db8:2::/48' => 'DE',
);
$c->insert_network($_, { country_code => $country{$_} }) for sort keys %country;
open my $fh, '>:raw', "$out/test-country.mmdb" or die "$out/test-country.mmdb: $!\n";
$c->write_tree($fh);
close $fh;

my $a = tree('GeoLite2-ASN', { autonomous_system_number => 'uint32',
	autonomous_system_organization => 'utf8_string' });
my %asn = ('3.0.0.0/9' => [16509, 'AMAZON-02'], '8.8.8.0/24' => [15169, 'GOOGLE'],
	'5.9.0.0/16' => [24940, 'Hetzner Online GmbH'], '192.0.2.0/24' => [64500, 'Test residential']);
for (sort keys %asn) {
	$a->insert_network($_, { autonomous_system_number => $asn{$_}[0],
		autonomous_system_organization => $asn{$_}[1] });
}
open $fh, '>:raw', "$out/test-asn.mmdb" or die "$out/test-asn.mmdb: $!\n";
$a->write_tree($fh);
close $fh;
