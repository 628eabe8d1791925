#!/usr/bin/perl
# SpamAssassin 4.0.1's Bayes tokens for each message file listed on
# standard input, as learning would store them. Prints one line per token:
# "file<TAB>token as hex". Used by `xtask bayes-tokens` as the reference
# side of a per-message token comparison.
use strict;
use warnings;
use Mail::SpamAssassin;

my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1, dont_copy_prefs => 1,
  userprefs_filename => '/dev/null', userstate_dir => '/tmp/sa-tokens-state',
  post_config_text => "use_bayes 1\nbayes_auto_learn 0\nuse_auto_whitelist 0\n",
});
$sa->init(1);
my ($bayes) = grep { ref($_) eq 'Mail::SpamAssassin::Plugin::Bayes' }
  @{ $sa->{plugins}->{plugins} };
die "no Bayes plugin" unless $bayes;
$| = 1;
while (my $f = <STDIN>) {
  chomp $f;
  open(my $fh, '<', $f) or next;
  binmode $fh;
  my $raw = do { local $/; <$fh> };
  close $fh;
  my $msg = $sa->parse($raw, 1);
  my $msgdata = $bayes->get_body_from_msg($msg);
  my $toks = $bayes->tokenize($msg, $msgdata);
  for my $t (sort values %$toks) {
    my $b = $t;
    utf8::encode($b) if utf8::is_utf8($b);
    print "$f\t", unpack('H*', $b), "\n";
  }
  $msg->finish();
}
