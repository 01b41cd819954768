using System.Diagnostics;
using System.Text;

namespace Vireo.Host;

/// <summary>The result of a finished helper process.</summary>
public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;
}

/// <summary>A helper program failed; the message has its printable command line and stderr.</summary>
public sealed class CommandException(string message) : Exception(message);

/// <summary>
/// Runs short-lived helper programs (qemu-img, ip, nft, modprobe): argv only, never a shell,
/// a clean C locale, stdin closed. Long-lived children (QEMU) go through <see cref="Spawner"/>.
/// </summary>
public static class Exec
{
    public static async Task<CommandResult> RunAsync(string program, IEnumerable<string> args, CancellationToken ct = default, string? stdin = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        psi.Environment.Remove("LANG");
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CommandException($"Cannot run '{program}': {e.Message}. Is it installed?");
        }
        using (p)
        {
            if (stdin is not null)
            {
                await p.StandardInput.WriteAsync(stdin);
                p.StandardInput.Close();
            }
            var so = p.StandardOutput.ReadToEndAsync(ct);
            var se = p.StandardError.ReadToEndAsync(ct);
            try
            {
                await p.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                try { p.Kill(); } catch { }
                throw;
            }
            return new CommandResult(p.ExitCode, await so, await se);
        }
    }

    /// <summary>Runs and throws with the command line and stderr when the exit code is not zero.</summary>
    public static async Task<string> CheckedAsync(string program, IEnumerable<string> args, CancellationToken ct = default)
    {
        var list = args.ToList();
        var r = await RunAsync(program, list, ct);
        if (!r.Ok)
            throw new CommandException($"'{Printable(program, list)}' failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
        return r.Stdout;
    }

    public static string Printable(string program, IEnumerable<string> args)
    {
        var sb = new StringBuilder(program);
        foreach (var a in args) sb.Append(' ').Append(a.Any(char.IsWhiteSpace) || a.Length == 0 ? $"'{a}'" : a);
        return sb.ToString();
    }
}
