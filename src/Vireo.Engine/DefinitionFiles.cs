using Vireo.Host;

namespace Vireo.Engine;

/// <summary>How domains and networks keep their definitions: one XML file each, autostart as a symlink to it.</summary>
internal static class DefinitionFiles
{
    public static void Save(string path, string xml, string what)
    {
        try
        {
            AtomicFile.Write(path, xml);
        }
        catch (IOException e)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot save the definition of {what}: {e.Message}");
        }
    }

    /// <summary>Moves an unreadable file out of the way (FILE.corrupt, the newest one kept) so it is neither read again nor lost.</summary>
    public static string SetAside(string path)
    {
        var aside = path + ".corrupt";
        try { File.Move(path, aside, overwrite: true); }
        catch (IOException) { return path; }
        return aside;
    }

    public static void SetAutostart(string link, string definition, bool on)
    {
        if (!on) File.Delete(link);
        else if (!File.Exists(link)) File.CreateSymbolicLink(link, definition);
    }
}
