using Sockeye;

return await SockeyeCommandLine.RunAsync(args);
