using System.Buffers;
using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Forklift.Spawning;

/// <summary>
/// The caller's environment for one start, exactly as .NET manages it: what
/// <c>Environment.GetEnvironmentVariable</c>/<c>SetEnvironmentVariable</c> read and write and what
/// <c>Process.Start</c> hands a child. Read in place, never copied into strings; <see cref="Dispose"/> frees it.
/// </summary>
/// <remarks>
/// <para>
/// Where that environment lives: CoreCLR on Unix does not keep it in libc's <c>environ</c> but in its PAL
/// (src/coreclr/pal/src/misc/environ.cpp: <c>palEnvironment</c>, guarded by the critical section
/// <c>gcsEnvironment</c>); <c>SetEnvironmentVariable</c> changes only that copy (checked on .NET 10:
/// <c>SystemNative_GetEnviron</c>, i.e. libc's <c>environ</c>, does not see it). There is no managed dictionary to
/// read either (that is NativeAOT's and Mono's design). <c>Environment.GetEnvironmentVariables</c>, and through it
/// <c>Process.Start</c>, calls the PAL's <c>GetEnvironmentStringsW</c>, which copies the whole environment into
/// one native block <c>NAME=value\0...\0\0</c> under that lock, then builds a Hashtable of strings from it
/// (about 10 KB for 50 variables, on every call). There is no change counter that would let a copy be reused.
/// </para>
/// <para>
/// So this class calls the same <c>GetEnvironmentStringsW</c> (CoreLib's own P/Invoke,
/// <c>Interop.Kernel32</c>, found once by reflection with its signature checked, and called through its
/// function pointer): the same snapshot, taken under the same lock, with every earlier
/// <c>SetEnvironmentVariable</c> in it. It indexes the block in place (one pooled int array, no strings),
/// parsing it as <c>GetEnvironmentVariables</c> does: an entry without '=' or whose name starts with '=' is
/// skipped, and of two entries with one name the first wins. <see cref="Dispose"/> hands the block back to
/// <c>FreeEnvironmentStringsW</c>. Where the runtime has no such methods or their signatures differ (NativeAOT,
/// Mono, a trimmed CoreLib, a runtime that moved them), <see cref="Capture()"/> falls back to
/// <c>GetEnvironmentVariables</c> itself: the same variables, at that cost.
/// </para>
/// </remarks>
internal sealed unsafe class CallerEnvironment : IDisposable
{
    private static readonly delegate*<char*> s_getBlock;
    private static readonly delegate*<char*, int> s_freeBlock;

    private char* _native;             // the runtime's block, or null
    private char[]? _managed;          // the block built from a dictionary, or null
    private readonly int _length;      // the block's chars, up to (not including) the final empty entry
    private int[]? _index;             // per entry: start, name length, value length (pooled)
    private readonly int _count;

    static CallerEnvironment()
    {
        if (TryFindRuntimeBlock(typeof(object).Assembly, out var get, out var free))
        {
            s_getBlock = get;
            s_freeBlock = free;
        }
    }

    private CallerEnvironment(char* native, char[]? managed)
    {
        _native = native;
        _managed = managed;
        // Count the entries and find the block's end (the empty entry).
        int length = 0, entries = 0;
        while (true)
        {
            var entry = Entry(length);
            if (entry.IsEmpty)
                break;
            entries++;
            length += entry.Length + 1;
        }
        _length = length;
        _index = entries == 0 ? null : ArrayPool<int>.Shared.Rent(entries * 3);
        _count = Index(entries);
    }

    /// <summary>True when <see cref="Capture()"/> reads the runtime's block (false: it falls back to GetEnvironmentVariables).</summary>
    public static bool ReadsRuntimeBlock => s_getBlock != null;

    /// <summary>The variables (after skipping malformed entries and later duplicates).</summary>
    public int Count => _count;

    /// <summary>The caller's environment now: the runtime's block, or <c>GetEnvironmentVariables</c> where it cannot be read.</summary>
    public static CallerEnvironment Capture() => Capture(useRuntimeBlock: true);

    /// <summary><see cref="Capture()"/>, optionally forced onto the fallback (for tests that compare the two).</summary>
    internal static CallerEnvironment Capture(bool useRuntimeBlock)
    {
        if (useRuntimeBlock && s_getBlock != null)
        {
            char* block = s_getBlock();
            if (block == null)
                throw new OutOfMemoryException("GetEnvironmentStringsW returned no block."); // what GetEnvironmentVariables does
            try
            {
                return new CallerEnvironment(block, null);
            }
            catch
            {
                s_freeBlock(block);
                throw;
            }
        }
        return FromDictionary(System.Environment.GetEnvironmentVariables());
    }

    /// <summary>An environment given as names and values (string keys without '=', string or null values).</summary>
    /// <exception cref="ArgumentException">A name is empty or has '=' or NUL, or a value has NUL.</exception>
    public static CallerEnvironment FromDictionary(IDictionary variables)
    {
        int chars = 1;
        foreach (DictionaryEntry e in variables)
        {
            var name = (string)e.Key;
            var value = (string?)e.Value ?? "";
            if (name.Length == 0 || name.AsSpan().IndexOfAny('=', '\0') >= 0 || value.Contains('\0'))
                throw new ArgumentException($"not an environment variable: '{name}'", nameof(variables));
            chars += name.Length + value.Length + 2;
        }
        var block = new char[chars];
        int at = 0;
        foreach (DictionaryEntry e in variables)
        {
            var name = (string)e.Key;
            var value = (string?)e.Value ?? "";
            name.CopyTo(block.AsSpan(at));
            at += name.Length;
            block[at++] = '=';
            value.CopyTo(block.AsSpan(at));
            at += value.Length;
            block[at++] = '\0';
        }
        return new CallerEnvironment(null, block);
    }

    /// <summary>An environment given as a block <c>NAME=value\0...\0</c> (for tests of the parse).</summary>
    internal static CallerEnvironment FromBlock(string block) => new(null, (block + "\0\0").ToCharArray());

    /// <summary>Variable <paramref name="i"/> (0 &lt;= i &lt; <see cref="Count"/>), in the block's order.</summary>
    public EnvironmentVariable this[int i]
    {
        get
        {
            var index = _index;
            ObjectDisposedException.ThrowIf(index is null && _count != 0, this);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)i, (uint)_count, nameof(i));
            int start = index![3 * i], name = index[3 * i + 1], value = index[3 * i + 2];
            var block = Block;
            return new EnvironmentVariable(block.Slice(start, name), block.Slice(start + name + 1, value));
        }
    }

    /// <summary>The value of <paramref name="name"/>, if it is set.</summary>
    public bool TryGetValue(ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        for (int i = 0; i < _count; i++)
        {
            var variable = this[i];
            if (variable.Name.SequenceEqual(name))
            {
                value = variable.Value;
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>Gives the runtime's block back and the index to its pool.</summary>
    public void Dispose()
    {
        if (_index is { } index)
        {
            _index = null;
            ArrayPool<int>.Shared.Return(index);
        }
        _managed = null;
        if (_native != null)
        {
            char* native = _native;
            _native = null;
            int ok = s_freeBlock(native);
            Debug.Assert(ok != 0, "FreeEnvironmentStringsW failed");
        }
    }

    /// <summary>
    /// Finds CoreLib's <c>Interop.Kernel32.GetEnvironmentStringsW</c> (<c>char* ()</c>) and
    /// <c>FreeEnvironmentStringsW</c> (<c>BOOL (char*)</c>, BOOL an int enum) in <paramref name="coreLib"/>, as
    /// function pointers; false, with both null, when either is missing or its signature differs.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "When trimming removed the type, the lookup finds nothing and Capture falls back to GetEnvironmentVariables.")]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "When trimming removed the methods, the lookup finds nothing and Capture falls back to GetEnvironmentVariables.")]
    internal static bool TryFindRuntimeBlock(Assembly coreLib, out delegate*<char*> get, out delegate*<char*, int> free)
    {
        get = null;
        free = null;
        try
        {
            var kernel32 = coreLib.GetType("Interop+Kernel32", throwOnError: false);
            const BindingFlags Static = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
            var getMethod = kernel32?.GetMethod("GetEnvironmentStringsW", Static, Type.EmptyTypes);
            var freeMethod = kernel32?.GetMethod("FreeEnvironmentStringsW", Static, [typeof(char*)]);
            if (getMethod is null || freeMethod is null || getMethod.ReturnType != typeof(char*))
                return false;
            // BOOL is an enum over int: returned exactly as an int by the managed calling convention.
            var freeReturn = freeMethod.ReturnType.IsEnum ? Enum.GetUnderlyingType(freeMethod.ReturnType) : freeMethod.ReturnType;
            if (freeReturn != typeof(int))
                return false;
            get = (delegate*<char*>)getMethod.MethodHandle.GetFunctionPointer();
            free = (delegate*<char*, int>)freeMethod.MethodHandle.GetFunctionPointer();
            return get != null && free != null;
        }
        catch (Exception e) when (e is NotSupportedException or MemberAccessException or TypeLoadException or AmbiguousMatchException)
        {
            get = null;
            free = null;
            return false;
        }
    }

    private ReadOnlySpan<char> Block => _native != null
        ? new ReadOnlySpan<char>(_native, _length)
        : _managed is { } managed ? managed.AsSpan(0, _length) : throw new ObjectDisposedException(nameof(CallerEnvironment));

    /// <summary>The entry starting at <paramref name="at"/> (before <see cref="_length"/> is known).</summary>
    private ReadOnlySpan<char> Entry(int at) => _native != null
        ? MemoryMarshal.CreateReadOnlySpanFromNullTerminated(_native + at)
        : _managed!.AsSpan(at, _managed.AsSpan(at).IndexOf('\0'));

    /// <summary>Fills the index with the well-formed, first-of-their-name entries; returns how many.</summary>
    private int Index(int entries)
    {
        if (entries == 0)
            return 0;
        var index = _index!;
        var block = Block;
        // Open addressing over the entries' name hashes: slot = 1 + entry number, 0 = free.
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)entries * 2);
        int[]? rented = size > 512 ? ArrayPool<int>.Shared.Rent(size) : null;
        Span<int> table = rented is null ? stackalloc int[512] : rented;
        table = table[..size];
        table.Clear();
        int count = 0;
        try
        {
            for (int at = 0; at < block.Length;)
            {
                var entry = block[at..];
                entry = entry[..entry.IndexOf('\0')];
                int eq = entry.IndexOf('=');
                if (eq > 0) // no '=' or a name starting with '=': skipped, as GetEnvironmentVariables does
                {
                    var name = entry[..eq];
                    int slot = string.GetHashCode(name) & (size - 1);
                    bool seen = false;
                    for (; table[slot] != 0; slot = (slot + 1) & (size - 1))
                    {
                        int other = table[slot] - 1;
                        if (block.Slice(index[3 * other], index[3 * other + 1]).SequenceEqual(name))
                        {
                            seen = true; // a later duplicate: the first wins
                            break;
                        }
                    }
                    if (!seen)
                    {
                        index[3 * count] = at;
                        index[3 * count + 1] = eq;
                        index[3 * count + 2] = entry.Length - eq - 1;
                        table[slot] = ++count;
                    }
                }
                at += entry.Length + 1;
            }
        }
        finally
        {
            if (rented is not null)
                ArrayPool<int>.Shared.Return(rented);
        }
        return count;
    }
}

/// <summary>One variable of a <see cref="CallerEnvironment"/> or <see cref="ChildEnvironment"/>: views, not strings.</summary>
internal readonly ref struct EnvironmentVariable(ReadOnlySpan<char> name, ReadOnlySpan<char> value)
{
    public ReadOnlySpan<char> Name { get; } = name;

    public ReadOnlySpan<char> Value { get; } = value;

    public void Deconstruct(out ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        name = Name;
        value = Value;
    }
}
