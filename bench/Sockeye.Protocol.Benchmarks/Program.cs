using BenchmarkDotNet.Running;

// Pick benchmarks with --filter, e.g. --filter '*Request*'; see bench/README.md for the full command.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
