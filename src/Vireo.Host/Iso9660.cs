using System.Buffers.Binary;
using System.Text;

namespace Vireo.Host;

// ISO 9660 images with Joliet names, written and read by hand. Why not a library: the
// ISO packages for .NET (DiscUtils.Iso9660 and its LTRData fork) are not on the NuGet
// registry this project builds from, and shelling out to xorriso/genisoimage would add a
// host tool for two small jobs. Vireo needs only these two:
//   - write a small image: cloud-init's NoCloud seed (label "cidata", files user-data,
//     meta-data, network-config) and test media;
//   - read files out of an installer ISO: --location's kernel and initrd.
// The writer makes a primary volume (ISO level 2 names: A-Z 0-9 _, up to 30 characters)
// plus a Joliet supplementary volume with the real names, as `genisoimage -J` does; Linux,
// Windows and cloud-init all read the Joliet names. The reader prefers Joliet, then falls
// back to the primary names (lower-cased, ";1" dropped). No El Torito, no Rock Ridge.
// Reference: ECMA-119 (ISO 9660) and the Joliet specification (1995).

/// <summary>A file to put into an ISO image: its path inside the image ('/'-separated) and where its bytes come from.</summary>
public sealed record IsoFile(string Path, long Length, Func<Stream> Open)
{
    public static IsoFile FromBytes(string path, byte[] data) => new(path, data.Length, () => new MemoryStream(data, writable: false));
    public static IsoFile FromText(string path, string text) => FromBytes(path, Encoding.UTF8.GetBytes(text));
    public static IsoFile FromFile(string path, string hostPath) => new(path, new FileInfo(hostPath).Length, () => File.OpenRead(hostPath));
}

public static class Iso9660
{
    private const int Sector = 2048;

    /// <summary>Writes an image holding <paramref name="files"/> (directories follow from their paths) to <paramref name="output"/>.</summary>
    public static void Write(Stream output, string volumeLabel, IEnumerable<IsoFile> files, DateTime? time = null)
    {
        var when = time ?? DateTime.UtcNow;
        var root = new Node("", null, null);
        foreach (var f in files)
        {
            var parts = f.Path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) throw new ArgumentException($"ISO file path '{f.Path}' is empty.");
            var dir = root;
            foreach (var part in parts[..^1]) dir = dir.Dir(part);
            if (dir.Children.Any(c => c.Name == parts[^1])) throw new ArgumentException($"ISO file path '{f.Path}' is given twice.");
            dir.Children.Add(new Node(parts[^1], dir, f));
        }
        var dirs = DirectoriesInPathTableOrder(root);
        for (int i = 0; i < dirs.Count; i++) dirs[i].Number = i + 1;

        // Layout: 16 system sectors, PVD, Joliet SVD, terminator, 4 path tables, the two
        // directory hierarchies, then the file data (shared by both hierarchies).
        int lba = 19;
        var ptPrimary = PathTable(dirs, joliet: false, bigEndian: false, _ => 0);
        int ptSectors = Sectors(ptPrimary.Length);
        int ptJolietLen = PathTable(dirs, joliet: true, bigEndian: false, _ => 0).Length;
        int ptJolietSectors = Sectors(ptJolietLen);
        int lPrimary = lba, mPrimary = lba + ptSectors, lJoliet = mPrimary + ptSectors, mJoliet = lJoliet + ptJolietSectors;
        lba = mJoliet + ptJolietSectors;
        foreach (var d in dirs) { d.Size[0] = DirectorySize(d, joliet: false); d.Lba[0] = lba; lba += d.Size[0] / Sector; }
        foreach (var d in dirs) { d.Size[1] = DirectorySize(d, joliet: true); d.Lba[1] = lba; lba += d.Size[1] / Sector; }
        var fileNodes = dirs.SelectMany(d => d.Children.Where(c => c.File != null).OrderBy(c => c.Name, StringComparer.Ordinal)).ToList();
        foreach (var f in fileNodes) { f.Lba[0] = f.Lba[1] = lba; lba += Math.Max(1, Sectors(f.File!.Length)); }
        int total = lba;

        output.Write(new byte[16 * Sector]);
        output.Write(VolumeDescriptor(joliet: false, volumeLabel, total, ptPrimary.Length, lPrimary, mPrimary, root, when));
        output.Write(VolumeDescriptor(joliet: true, volumeLabel, total, ptJolietLen, lJoliet, mJoliet, root, when));
        var term = new byte[Sector];
        term[0] = 255; Encoding.ASCII.GetBytes("CD001").CopyTo(term, 1); term[6] = 1;
        output.Write(term);
        WritePadded(output, PathTable(dirs, false, false, d => d.Lba[0]));
        WritePadded(output, PathTable(dirs, false, true, d => d.Lba[0]));
        WritePadded(output, PathTable(dirs, true, false, d => d.Lba[1]));
        WritePadded(output, PathTable(dirs, true, true, d => d.Lba[1]));
        for (int j = 0; j < 2; j++)
            foreach (var d in dirs) output.Write(DirectoryExtent(d, joliet: j == 1, when));
        foreach (var f in fileNodes)
        {
            using var src = f.File!.Open();
            long copied = 0;
            var buf = new byte[1 << 16];
            int n;
            while (copied < f.File.Length && (n = src.Read(buf, 0, (int)Math.Min(buf.Length, f.File.Length - copied))) > 0)
            {
                output.Write(buf, 0, n);
                copied += n;
            }
            if (copied != f.File.Length) throw new IOException($"ISO file '{f.File.Path}' changed size while it was written ({copied} of {f.File.Length} bytes).");
            int pad = (int)(Math.Max(1, Sectors(copied)) * (long)Sector - copied);
            output.Write(new byte[pad]);
        }
        output.Flush();
    }

    private sealed class Node(string name, Node? parent, IsoFile? file)
    {
        public string Name { get; } = name;
        public Node? Parent { get; } = parent;
        public IsoFile? File { get; } = file;
        public List<Node> Children { get; } = [];
        public int Number;
        public readonly int[] Lba = new int[2];
        public readonly int[] Size = new int[2];

        public Node Dir(string name)
        {
            var d = Children.FirstOrDefault(c => c.Name == name);
            if (d is { File: not null }) throw new ArgumentException($"ISO path '{name}' is both a file and a directory.");
            if (d == null) Children.Add(d = new Node(name, this, null));
            return d;
        }
    }

    private static int Sectors(long bytes) => (int)((bytes + Sector - 1) / Sector);

    private static void WritePadded(Stream s, byte[] data)
    {
        s.Write(data);
        int pad = Sectors(data.Length) * Sector - data.Length;
        s.Write(new byte[pad]);
    }

    private static List<Node> DirectoriesInPathTableOrder(Node root)
    {
        // Path table order: by level, then by parent's number, then by name.
        var result = new List<Node> { root };
        for (int i = 0; i < result.Count; i++)
            result.AddRange(result[i].Children.Where(c => c.File == null).OrderBy(c => c.Name, StringComparer.Ordinal));
        return result;
    }

    private static byte[] Identifier(Node n, bool joliet)
    {
        if (joliet)
        {
            var name = n.Name.Length > 64 ? n.Name[..64] : n.Name;
            if (n.File != null) name += ";1";
            return Encoding.BigEndianUnicode.GetBytes(name);
        }
        var sb = new StringBuilder();
        foreach (var ch in n.Name.ToUpperInvariant())
            sb.Append(ch is >= 'A' and <= 'Z' or >= '0' and <= '9' or '_' || (ch == '.' && n.File != null) ? ch : '_');
        var id = sb.ToString();
        if (id.Length > 30) id = id[..30];
        if (n.File != null) { if (!id.Contains('.')) id += "."; id += ";1"; }
        return Encoding.ASCII.GetBytes(id);
    }

    private static byte[] PathTable(List<Node> dirs, bool joliet, bool bigEndian, Func<Node, int> lba)
    {
        var ms = new MemoryStream();
        foreach (var d in dirs)
        {
            var id = d.Parent == null ? [0] : Identifier(d, joliet);
            ms.WriteByte((byte)id.Length);
            ms.WriteByte(0);
            var b = new byte[6];
            if (bigEndian) { BinaryPrimitives.WriteInt32BigEndian(b, lba(d)); BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(4), (short)(d.Parent?.Number ?? 1)); }
            else { BinaryPrimitives.WriteInt32LittleEndian(b, lba(d)); BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(4), (short)(d.Parent?.Number ?? 1)); }
            ms.Write(b);
            ms.Write(id);
            if (id.Length % 2 == 1) ms.WriteByte(0);
        }
        return ms.ToArray();
    }

    private static IEnumerable<(byte[] Id, Node Target)> Entries(Node d, bool joliet)
    {
        yield return ([0], d);
        yield return ([1], d.Parent ?? d);
        // Sorted by the identifier as recorded (ECMA-119 9.3).
        foreach (var c in d.Children.Select(c => (Id: Identifier(c, joliet), c)).OrderBy(x => x.Id, ByteOrder.Instance))
            yield return (c.Id, c.c);
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    private static int RecordLength(byte[] id) => 33 + id.Length + (id.Length % 2 == 0 ? 1 : 0);

    private static int DirectorySize(Node d, bool joliet)
    {
        int size = 0;
        foreach (var (id, _) in Entries(d, joliet))
        {
            int len = RecordLength(id);
            if (size % Sector + len > Sector) size = Sectors(size) * Sector;   // records never cross a sector
            size += len;
        }
        return Sectors(size) * Sector;
    }

    private static byte[] DirectoryExtent(Node d, bool joliet, DateTime when)
    {
        int j = joliet ? 1 : 0;
        var buf = new byte[d.Size[j]];
        int pos = 0;
        foreach (var (id, target) in Entries(d, joliet))
        {
            int len = RecordLength(id);
            if (pos % Sector + len > Sector) pos = Sectors(pos) * Sector;
            bool isDir = target.File == null;
            DirectoryRecord(buf.AsSpan(pos, len), id, target.Lba[j], isDir ? target.Size[j] : target.File!.Length, isDir, when);
            pos += len;
        }
        return buf;
    }

    private static void DirectoryRecord(Span<byte> r, byte[] id, int lba, long size, bool dir, DateTime when)
    {
        if (size > uint.MaxValue) throw new ArgumentException("ISO 9660 files are limited to 4 GiB each.");
        r[0] = (byte)r.Length;
        Both32(r[2..], (uint)lba);
        Both32(r[10..], (uint)size);
        r[18] = (byte)(when.Year - 1900); r[19] = (byte)when.Month; r[20] = (byte)when.Day;
        r[21] = (byte)when.Hour; r[22] = (byte)when.Minute; r[23] = (byte)when.Second; r[24] = 0;
        r[25] = (byte)(dir ? 2 : 0);
        Both16(r[28..], 1);
        r[32] = (byte)id.Length;
        id.CopyTo(r[33..]);
    }

    private static void Both32(Span<byte> s, uint v) { BinaryPrimitives.WriteUInt32LittleEndian(s, v); BinaryPrimitives.WriteUInt32BigEndian(s[4..], v); }
    private static void Both16(Span<byte> s, ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(s, v); BinaryPrimitives.WriteUInt16BigEndian(s[2..], v); }

    private static byte[] VolumeDescriptor(bool joliet, string label, int totalSectors, int pathTableSize, int lTable, int mTable, Node root, DateTime when)
    {
        var v = new byte[Sector];
        v[0] = (byte)(joliet ? 2 : 1);
        Encoding.ASCII.GetBytes("CD001").CopyTo(v, 1);
        v[6] = 1;
        void Text(int offset, int length, string s)
        {
            if (joliet)
            {
                var b = Encoding.BigEndianUnicode.GetBytes(s.Length > length / 2 ? s[..(length / 2)] : s);
                for (int i = 0; i < length; i += 2) { v[offset + i] = 0; v[offset + i + 1] = 0x20; }
                b.CopyTo(v, offset);
            }
            else
            {
                var b = Encoding.ASCII.GetBytes(s.Length > length ? s[..length] : s);
                v.AsSpan(offset, length).Fill(0x20);
                b.CopyTo(v, offset);
            }
        }
        Text(8, 32, "LINUX");
        // The primary label keeps its case: blkid and /dev/disk/by-label show it as written,
        // and cloud-init looks for "cidata" (or "CIDATA").
        Text(40, 32, label);
        Both32(v.AsSpan(80), (uint)totalSectors);
        if (joliet) { v[88] = 0x25; v[89] = 0x2F; v[90] = 0x45; }   // "%/E": UCS-2 level 3
        Both16(v.AsSpan(120), 1);
        Both16(v.AsSpan(124), 1);
        Both16(v.AsSpan(128), Sector);
        Both32(v.AsSpan(132), (uint)pathTableSize);
        BinaryPrimitives.WriteInt32LittleEndian(v.AsSpan(140), lTable);
        BinaryPrimitives.WriteInt32BigEndian(v.AsSpan(148), mTable);
        int j = joliet ? 1 : 0;
        DirectoryRecord(v.AsSpan(156, 34), [0], root.Lba[j], root.Size[j], true, when);
        Text(190, 128, "");
        Text(318, 128, "");
        Text(446, 128, "VIREO");
        Text(574, 128, "VIREO");
        Text(702, 37, ""); Text(739, 37, ""); Text(776, 37, "");
        var date = Encoding.ASCII.GetBytes(when.ToString("yyyyMMddHHmmss00"));
        date.CopyTo(v, 813); date.CopyTo(v, 830);
        Encoding.ASCII.GetBytes("0000000000000000").CopyTo(v, 847);
        Encoding.ASCII.GetBytes("0000000000000000").CopyTo(v, 864);
        v[881] = 1;
        return v;
    }

    // ---- reading ----

    /// <summary>A file or directory found in an image.</summary>
    public sealed record Entry(string Name, bool IsDirectory, long Lba, long Size);

    /// <summary>An ISO image open for reading: its label and its files by path (case-insensitive, as installers' paths vary).</summary>
    public sealed class Image
    {
        private readonly Stream _s;
        private readonly bool _joliet;
        private readonly Entry _root;
        public string Label { get; }
        public bool HasJoliet => _joliet;

        private Image(Stream s, bool joliet, Entry root, string label) { _s = s; _joliet = joliet; _root = root; Label = label; }

        public static Image Open(Stream s)
        {
            Entry? primary = null, jolietRoot = null;
            string label = "";
            var v = new byte[Sector];
            for (int sector = 16; sector < 16 + 64; sector++)
            {
                s.Position = (long)sector * Sector;
                if (s.ReadAtLeast(v, Sector, throwOnEndOfStream: false) < Sector || Encoding.ASCII.GetString(v, 1, 5) != "CD001")
                    throw new InvalidDataException("not an ISO 9660 image (no volume descriptor 'CD001' at sector 16)");
                if (v[0] == 255) break;
                if (v[0] == 1 && primary == null)
                {
                    primary = ParseRecord(v.AsSpan(156, 34), joliet: false);
                    label = Encoding.ASCII.GetString(v, 40, 32).TrimEnd(' ', '\0');
                }
                else if (v[0] == 2 && v[88] == 0x25 && v[89] == 0x2F && v[90] is 0x40 or 0x43 or 0x45)
                    jolietRoot = ParseRecord(v.AsSpan(156, 34), joliet: true);
            }
            if (primary == null) throw new InvalidDataException("not an ISO 9660 image (no primary volume descriptor)");
            return jolietRoot != null ? new Image(s, true, jolietRoot, label) : new Image(s, false, primary, label);
        }

        private static Entry ParseRecord(ReadOnlySpan<byte> r, bool joliet)
        {
            uint lba = BinaryPrimitives.ReadUInt32LittleEndian(r[2..]);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(r[10..]);
            bool dir = (r[25] & 2) != 0;
            int idLen = r[32];
            var id = r.Slice(33, idLen);
            string name;
            if (idLen == 1 && id[0] is 0 or 1) name = id[0] == 0 ? "." : "..";
            else if (joliet) name = Encoding.BigEndianUnicode.GetString(id);
            else name = Encoding.ASCII.GetString(id).ToLowerInvariant();
            int semi = name.IndexOf(';');
            if (semi >= 0) name = name[..semi];
            if (!dir && !joliet && name.EndsWith('.')) name = name[..^1];
            return new Entry(name, dir, lba, size);
        }

        /// <summary>The entries of a directory ("" or "/" for the root).</summary>
        public IReadOnlyList<Entry> List(string dir)
        {
            var d = Find(dir) ?? throw new FileNotFoundException($"no directory '{dir}' in the image");
            if (!d.IsDirectory) throw new IOException($"'{dir}' in the image is a file, not a directory");
            return ReadDirectory(d);
        }

        private List<Entry> ReadDirectory(Entry d)
        {
            var buf = new byte[d.Size];
            _s.Position = d.Lba * Sector;
            _s.ReadExactly(buf);
            var list = new List<Entry>();
            int pos = 0;
            while (pos < buf.Length)
            {
                int len = buf[pos];
                if (len == 0) { pos = (pos / Sector + 1) * Sector; continue; }   // rest of the sector is padding
                if (pos + len > buf.Length || len < 34) throw new InvalidDataException("damaged directory record in the ISO image");
                var e = ParseRecord(buf.AsSpan(pos, len), _joliet);
                if (e.Name is not "." and not "..") list.Add(e);
                pos += len;
            }
            return list;
        }

        /// <summary>The entry at <paramref name="path"/>, or null.</summary>
        public Entry? Find(string path)
        {
            var cur = _root;
            foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!cur.IsDirectory) return null;
                var next = ReadDirectory(cur).FirstOrDefault(e => string.Equals(e.Name, part, StringComparison.OrdinalIgnoreCase));
                if (next == null) return null;
                cur = next;
            }
            return cur;
        }

        /// <summary>Copies the file at <paramref name="path"/> to <paramref name="destination"/>.</summary>
        public void CopyFile(string path, Stream destination)
        {
            var e = Find(path) ?? throw new FileNotFoundException($"no file '{path}' in the image");
            if (e.IsDirectory) throw new IOException($"'{path}' in the image is a directory");
            _s.Position = e.Lba * Sector;
            var buf = new byte[1 << 16];
            long left = e.Size;
            while (left > 0)
            {
                int n = _s.Read(buf, 0, (int)Math.Min(buf.Length, left));
                if (n <= 0) throw new EndOfStreamException($"the ISO image ends inside '{path}'");
                destination.Write(buf, 0, n);
                left -= n;
            }
        }

        public byte[] ReadFile(string path)
        {
            var ms = new MemoryStream();
            CopyFile(path, ms);
            return ms.ToArray();
        }
    }
}
