use strict; use warnings;
use Mail::SpamAssassin;
my $file = shift;
open(my $fh,'<',$file); my $raw = do { local $/; <$fh> };
for my $conf (@ARGV) {
  my $sa = Mail::SpamAssassin->new({local_tests_only=>1, dont_copy_prefs=>1, userprefs_filename=>'/dev/null', username=>'nobody', post_config_text=>join("\n", split(/;/, $conf))."\n"});
  $sa->init(1);
  my $mail = $sa->parse($raw);
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $mail);
  $pms->extract_message_metadata();
  my $ext = join('', $pms->get('ALL-EXTERNAL')); $ext =~ s/\n/\\n/g;
  my $tr = join('', $pms->get('ALL-TRUSTED')); $tr =~ s/\n/\\n/g;
  print join("\t", $conf, (map { scalar $pms->get($_) } qw(X-Spam-Relays-Trusted X-Spam-Relays-Untrusted X-Spam-Relays-Internal X-Spam-Relays-External EnvelopeFrom)), $tr, $ext), "\n";
}
