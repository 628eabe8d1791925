#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spamcore::fuzzing::spamc_request(data));
