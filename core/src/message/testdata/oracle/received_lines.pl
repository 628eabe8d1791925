#!/usr/bin/perl
# One Received header per input line -> SpamAssassin relay strings.
# that has just that header: trusted, untrusted, unparseable count.
use strict; use warnings;
use Mail::SpamAssassin;
my $sa = Mail::SpamAssassin->new({local_tests_only=>1, dont_copy_prefs=>1, userprefs_filename=>'/dev/null', username=>'nobody'});
$sa->init(1);
while (my $l = <STDIN>) {
  chomp $l;
  my $mail = $sa->parse("Received: $l\nFrom: a\@example.com\nSubject: t\n\nx\n");
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $mail);
  $pms->extract_message_metadata();
  print join("\t", $l, $pms->get('X-Spam-Relays-Trusted'), $pms->get('X-Spam-Relays-Untrusted'), $pms->{num_relays_unparseable}), "\n";
  $pms->finish; $mail->finish;
}
