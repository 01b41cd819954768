using System.Runtime.CompilerServices;
using Vireo.Cli;

namespace Vireo;

public static class Program
{
    public static Task<int> Main(string[] args) => CliMain.RunAsync(args, RunDaemon);

    // Kept in its own method so the client path never loads ASP.NET Core.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task<int> RunDaemon(DaemonArgs a, CancellationToken ct) =>
        Daemon.DaemonHost.RunAsync(new Daemon.DaemonOptions(a.ConfigDir, a.RunDir, a.Socket, a.DataDir, a.Web, a.LibvirtSocket, a.LibvirtSocketRo, a.SocketGroup, a.SocketRo, a.TlsListen, a.TlsDir, a.QemuUser), ct);
}
