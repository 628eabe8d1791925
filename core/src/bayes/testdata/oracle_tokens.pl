#!/usr/bin/perl
# Oracle for the Bayes tokenizer: runs the installed SpamAssassin 4.0.1
# tokenizer on each file named on the command line and prints one line per
# distinct token: the file, the 5-byte key in hex and the token (bytes >= 0x80
# and control bytes as \xNN). Used by the tokenizer parity test:
#   perl oracle_tokens.pl msg.eml ... > tokens.tsv
use strict;
use warnings;
use Mail::SpamAssassin;

my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1, dont_copy_prefs => 1,
  userprefs_filename => '/dev/null', userstate_dir => '/tmp/sa-oracle-state',
  post_config_text => "use_auto_whitelist 0\n",
});
$sa->init(1);
my ($bayes) = grep { ref($_) eq 'Mail::SpamAssassin::Plugin::Bayes' }
  @{ $sa->{plugins}->{plugins} };
die "no Bayes plugin" unless $bayes;
binmode STDOUT;
for my $f (@ARGV) {
  open(my $fh, '<', $f) or die "$f: $!";
  binmode $fh;
  my $raw = do { local $/; <$fh> };
  close $fh;
  my $msg = $sa->parse($raw, 1);
  my $data = $bayes->get_body_from_msg($msg);
  my $toks = $bayes->tokenize($msg, $data);
  for my $k (sort keys %$toks) {
    my $t = $toks->{$k};
    $t =~ s/([^\x21-\x7e])/sprintf("\\x%02x", ord($1))/ge;
    print "$f\t", unpack("H*", $k), "\t$t\n";
  }
  $msg->finish();
}
