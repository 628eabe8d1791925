#!/usr/bin/perl
# SpamAssassin 4.0.1's Bayes probability for each message file listed on
# standard input, from the database at bayes_path ARGV[0]. Prints
# "file<TAB>probability" ("-" when Bayes gave no answer). Used by
# `xtask bayes-compare` as the reference side.
use strict;
use warnings;
use Mail::SpamAssassin;

my $path = shift or die "usage: sa_classify.pl BAYES_PATH < files\n";
my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1, dont_copy_prefs => 1,
  userprefs_filename => '/dev/null', userstate_dir => '/tmp/sa-compare-state',
  post_config_text => "use_bayes 1\nbayes_path $path\nbayes_auto_learn 0\nuse_auto_whitelist 0\n",
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
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  $msg->extract_message_metadata($pms);
  my $p = $bayes->scan($pms, $msg);
  print "$f\t", (defined $p ? $p : '-'), "\n";
  $pms->finish();
  $msg->finish();
}
