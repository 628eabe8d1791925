#!/usr/bin/perl
use strict; use warnings;
use Mail::SpamAssassin;
my $sa = Mail::SpamAssassin->new({local_tests_only=>1, dont_copy_prefs=>1, userprefs_filename=>'/dev/null', username=>'nobody'});
$sa->init(1);
my %pl = map { (ref($_) => $_) } @{$sa->{plugins}->{plugins}};
my @f = (
 ['Mail::SpamAssassin::Plugin::RelayEval', qw(check_all_trusted check_no_relays check_relays_unparseable helo_ip_mismatch check_for_no_rdns_dotcom_helo check_for_forged_received_trail check_for_sender_no_reverse check_for_numeric_helo)],
 ['Mail::SpamAssassin::Plugin::HeaderEval', qw(check_for_fake_aol_relay_in_rcvd gated_through_received_hdr_remover check_for_forged_hotmail_received_headers check_for_no_hotmail_received_headers check_for_forged_eudoramail_received_headers check_for_forged_yahoo_received_headers check_for_forged_juno_received_headers check_for_forged_gmail_received_headers)],
 ['Mail::SpamAssassin::Plugin::WLBLEval', qw(check_mailfrom_matches_rcvd)],
);
while (my $f = <STDIN>) {
  chomp $f;
  open(my $fh, '<', $f) or next; local $/; my $raw = <$fh>; close $fh;
  my $mail = $sa->parse($raw);
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $mail);
  $pms->extract_message_metadata();
  my @r;
  for my $g (@f) { my ($p, @fn) = @$g; for my $fn (@fn) { push @r, ($pl{$p}->$fn($pms) ? 1 : 0); } }
  print "$f\t", join('', @r), "\n";
  $pms->finish; $mail->finish;
}
