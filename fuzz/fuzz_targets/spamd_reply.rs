#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spamcore::fuzzing::spamd_reply(data));
