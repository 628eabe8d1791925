#!/usr/bin/perl
# Dump SpamAssassin's relay metadata for each file named on stdin.
use strict; use warnings;
use Mail::SpamAssassin;
my $sa = Mail::SpamAssassin->new({local_tests_only=>1, dont_copy_prefs=>1, userprefs_filename=>'/dev/null', username=>'nobody'});
$sa->init(1);
while (my $f = <STDIN>) {
  chomp $f;
  open(my $fh, '<', $f) or next; local $/; my $raw = <$fh>; close $fh;
  my $mail = $sa->parse($raw);
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $mail);
  $pms->extract_message_metadata();
  my @o = map { my $v = $pms->get($_); $v = '' unless defined $v; $v } qw(X-Spam-Relays-Trusted X-Spam-Relays-Untrusted X-Spam-Relays-Internal X-Spam-Relays-External);
  my $ef = $pms->get('EnvelopeFrom'); $ef = '(undef)' unless defined $ef;
  print join("\t", $f, @o, $pms->{num_relays_unparseable}, $pms->{last_trusted_relay_index}, $pms->{last_internal_relay_index}, $ef), "\n";
  $pms->finish; $mail->finish;
}
