#!/usr/bin/perl
# ALL-TRUSTED, ALL-EXTERNAL, ALL-UNTRUSTED:raw per message (file list on stdin), escaped.
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
  my @o = map { my $v = join('', $pms->get($_)); $v =~ s/\\/\\\\/g; $v =~ s/\n/\\n/g; $v =~ s/\t/\\t/g; $v } qw(ALL-TRUSTED ALL-EXTERNAL ALL-UNTRUSTED:raw);
  print join("\t", $f, @o), "\n";
  $pms->finish; $mail->finish;
}
