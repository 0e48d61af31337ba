#!/usr/bin/perl
# Baseline for bench/ndr_speed.py: decode the same files with Sisimai, from memory, N rounds.
# Usage: sisimai_driver.pl ROUNDS FILE...
# Prints "files=N rounds=R seconds=S cpu=C records=K" (wall and CPU seconds of the decoding).
use strict;
use warnings;
use Sisimai;
use Time::HiRes qw(time);

my $rounds = shift @ARGV;
my @data;
for my $path (@ARGV) {
    open(my $fh, '<:raw', $path) or die "$path: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    $text = "From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" . $text unless $text =~ /\AFrom /;
    push @data, $text;
}
# Warm-up round, not counted: Sisimai loads its MTA modules on first use, and the Python
# side also decodes every file once before timing (imports, regex compilation).
for my $text (@data) {
    Sisimai->make(\$text, 'delivered' => 1, 'vacation' => 1);
}
my $records = 0;
my ($user0, $system0) = times();
my $started = time();
for (1 .. $rounds) {
    for my $text (@data) {
        my $found = Sisimai->make(\$text, 'delivered' => 1, 'vacation' => 1);
        $records += scalar @$found if defined $found;
    }
}
my $elapsed = time() - $started;
my ($user1, $system1) = times();
my $cpu = ($user1 - $user0) + ($system1 - $system0);
printf "files=%d rounds=%d seconds=%.6f cpu=%.6f records=%d\n", scalar @data, $rounds, $elapsed, $cpu,
    $records;
