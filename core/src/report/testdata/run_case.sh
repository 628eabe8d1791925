#!/bin/sh
# Regenerate one fixture with the real SpamAssassin 4.0.1:
#   ./run_case.sh NAME > NAME.out
# The Received date and the MIME boundary are masked to DATE and
# 00000001.00000002, which the tests pass in as the date, time and random.
set -e
T=$(cd "$(dirname "$0")" && pwd)
c=$1
d=$(mktemp -d)
mkdir "$d/site" "$d/rules"
echo 'loadplugin Mail::SpamAssassin::Plugin::Check' > "$d/site/init.pre"
# Names keep the load order: base, rules, then the case.
cp "$T/base.cf" "$d/rules/10_base.cf"
cp "$T/rules.cf" "$d/rules/20_rules.cf"
cp "$T/$c.cf" "$d/rules/30_case.cf"
spamassassin -L --siteconfigpath="$d/site" -C "$d/rules" -p "$d/prefs" < "$T/$c.msg" 2>/dev/null |
  perl -0777 -pe 's/(with SpamAssassin \(version 4\.0\.1\);\r?\n\t)[^\r\n]+/${1}DATE/; s/----------=_[0-9A-F]{8}\.[0-9A-F]{8}/----------=_00000001.00000002/g'
rm -rf "$d"
