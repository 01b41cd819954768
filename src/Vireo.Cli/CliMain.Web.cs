using System.CommandLine;
using System.Text;

namespace Vireo.Cli;

public static partial class CliMain
{
    /// <summary>vireo web-password: sets the web console's password (replacing the first-start token).</summary>
    private static void AddWebCommands(RootCommand root)
    {
        var cmd = new Command("web-password", "Set the web console's login password (read from the terminal, or one line of stdin)");
        Client(cmd, async (pr, c, ct) =>
        {
            string? password;
            if (Console.IsInputRedirected) password = Console.In.ReadLine();
            else
            {
                password = ReadHidden("New password: ");
                if (ReadHidden("Again: ") != password) throw new CliException("The two passwords differ; nothing changed.");
            }
            if (string.IsNullOrEmpty(password)) throw new CliException("No password given; nothing changed.");
            using var r = await c.SendAsync("PUT", "v1/web/password", new Body(Encoding.UTF8.GetBytes(password), "text/plain"), ct);
            Console.WriteLine("Web console password set; the first-start token no longer works.");
            return 0;
        });
        root.Subcommands.Add(cmd);
    }

    private static string ReadHidden(string prompt)
    {
        Console.Error.Write(prompt);
        var sb = new StringBuilder();
        while (true)
        {
            var k = Console.ReadKey(intercept: true);
            if (k.Key == ConsoleKey.Enter) break;
            if (k.Key == ConsoleKey.Backspace) { if (sb.Length > 0) sb.Length--; continue; }
            sb.Append(k.KeyChar);
        }
        Console.Error.WriteLine();
        return sb.ToString();
    }
}
