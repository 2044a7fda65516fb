GREETING = "hello from a local working_dir"
