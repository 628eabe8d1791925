#!/usr/bin/perl
# Oracle for the message module's fixtures: runs the installed SpamAssassin
# 4.0.1 on each file named on the command line and prints, as JSON, the views
# our `Message` reproduces. Regenerate a fixture with:
#   perl oracle.pl msg.eml > msg.json
use strict;
use warnings;
use Mail::SpamAssassin;
use JSON::PP;

my @hdrs = ('Subject', 'From', 'To', 'Cc', 'ALL', 'ToCc', 'MESSAGEID', 'EnvelopeFrom',
  'Subject:raw', 'From:raw', 'From:addr', 'From:name', 'To:addr', 'To:name', 'Cc:addr',
  'Reply-To:addr', 'Message-Id', 'Received', 'Content-Type', 'X-Mailer', 'Date',
  'From:first:addr', 'Received:last', 'X-Spam-Status', 'Nonexistent-Header');

my $sa = Mail::SpamAssassin->new({
  local_tests_only => 1, dont_copy_prefs => 1, use_bayes => 0,
  userprefs_filename => '/dev/null', userstate_dir => '/tmp/sa-oracle-state',
  post_config_text => "use_bayes 0\nuse_auto_whitelist 0\n",
});
$sa->init(1);
my $json = JSON::PP->new->canonical->pretty;
my @out;
for my $f (@ARGV) {
  open(my $fh, '<', $f) or die "$f: $!";
  binmode $fh;
  # Slurp in a block: chomp inside SpamAssassin depends on $/.
  my $raw = do { local $/; <$fh> };
  close $fh;
  my $msg = $sa->parse($raw, 1);
  # As check_timed does before any rule runs.
  $msg->delete_header('X-Spam-.*');
  my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $msg);
  $pms->extract_message_metadata();
  my %h;
  for my $h (@hdrs) {
    my @v = $pms->get($h);
    $h{$h} = @v ? ($h =~ /:(addr|name)/ ? [@v] : join('', @v)) : undef;
  }
  my %r = (
    file => $f,
    headers => \%h,
    body => [ map { "$_" } @{ $msg->get_rendered_body_text_array() } ],
    rawbody => [ map { "$_" } @{ $msg->get_decoded_body_text_array() } ],
    uris => [ sort keys %{ { map { $_ => 1 } $pms->get_uri_list() } } ],
    from_addrs => [ sort map { lc } $pms->all_from_addrs() ],
  );
  # Raw octet strings go out as latin-1 code points so JSON stays lossless.
  push @out, \%r;
  $pms->finish(); $msg->finish();
}
binmode STDOUT;
print $json->latin1->encode(@out == 1 ? $out[0] : \@out);
