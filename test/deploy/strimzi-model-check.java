import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks Strimzi resources against Strimzi's own API model (io.strimzi:api, the classes its CRDs are
 * generated from), offline. Run as a single-file program with the jars of test/deploy/fetch-strimzi-api.sh:
 *
 *   java -cp "<lib>/*" test/deploy/strimzi-model-check.java < resources.json
 *
 * stdin: a JSON array of resources (YAML already parsed by the test). stdout: a JSON array of
 * problems, empty when every resource reads into its class: a field of the wrong type, a `type`
 * discriminator the model does not have, an unknown field anywhere (Strimzi's classes keep unknown
 * fields aside instead of failing, so every object read is walked for them), a value the model does
 * not keep when written back (an enum value it does not have reads as null), a kind or an apiVersion
 * this model does not serve.
 */
public class StrimziModelCheck {
  private static final Map<String, String> KINDS = Map.of(
      "Kafka", "io.strimzi.api.kafka.model.kafka.Kafka",
      "KafkaNodePool", "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
      "KafkaConnect", "io.strimzi.api.kafka.model.connect.KafkaConnect",
      "KafkaConnector", "io.strimzi.api.kafka.model.connector.KafkaConnector");
  private static final Set<String> API_VERSIONS = Set.of("kafka.strimzi.io/v1beta2");

  public static void main(String[] args) throws Exception {
    ObjectMapper mapper = JsonMapper.builder()
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
        .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
        .build();
    JsonNode resources = mapper.readTree(System.in);
    List<String> problems = new ArrayList<>();
    for (JsonNode resource : resources) {
      String kind = resource.path("kind").asText();
      String where = kind + "/" + resource.path("metadata").path("name").asText("?");
      String className = KINDS.get(kind);
      if (className == null) {
        problems.add(where + ": kind " + kind + " is not one this check knows (" + String.join(", ", KINDS.keySet()) + ")");
        continue;
      }
      String apiVersion = resource.path("apiVersion").asText();
      if (!API_VERSIONS.contains(apiVersion)) problems.add(where + ": apiVersion " + apiVersion + ", expected one of " + API_VERSIONS);
      try {
        Object model = mapper.treeToValue(resource, Class.forName(className));
        walk(model, where, problems, Collections.newSetFromMap(new IdentityHashMap<>()));
        kept(resource, mapper.valueToTree(model), where, problems);
      } catch (Exception e) {
        problems.add(where + ": " + e.getMessage().replaceAll("\\s+", " "));
      }
    }
    System.out.println(mapper.writeValueAsString(problems));
  }

  /** Every value of the resource must come back when the model is written out again (defaults may be added, or left out). */
  private static void kept(JsonNode given, JsonNode written, String path, List<String> problems) {
    if (given.isObject()) {
      given.fields().forEachRemaining((e) -> {
        JsonNode w = written == null ? null : written.get(e.getKey());
        if (w == null || w.isNull()) {
          if (!omittedDefault(e.getValue())) problems.add(path + "." + e.getKey() + ": " + e.getValue() + " is not a value the model has");
        } else {
          kept(e.getValue(), w, path + "." + e.getKey(), problems);
        }
      });
    } else if (given.isArray()) {
      if (written == null || !written.isArray() || written.size() != given.size()) {
        problems.add(path + ": " + given + " read back as " + written);
        return;
      }
      for (int i = 0; i < given.size(); i++) kept(given.get(i), written.get(i), path + "[" + i + "]", problems);
    } else if (given.isNumber() && written.isNumber() ? given.decimalValue().compareTo(written.decimalValue()) != 0 : !given.equals(written)) {
      problems.add(path + ": " + given + " read back as " + written);
    }
  }

  /** What a model may leave out when it writes a default back: null, false, 0, an empty list or object. */
  private static boolean omittedDefault(JsonNode v) {
    return v.isNull() || (v.isBoolean() && !v.booleanValue()) || (v.isNumber() && v.doubleValue() == 0) || (v.isContainerNode() && v.isEmpty());
  }

  /** Every object of the model read from the resource: unknown fields are kept in getAdditionalProperties(). */
  private static void walk(Object value, String path, List<String> problems, Set<Object> seen) {
    if (value == null || !seen.add(value)) return;
    if (value instanceof Map<?, ?> map) {
      for (Map.Entry<?, ?> e : map.entrySet()) walk(e.getValue(), path + "." + e.getKey(), problems, seen);
      return;
    }
    if (value instanceof Collection<?> items) {
      int i = 0;
      for (Object item : items) walk(item, path + "[" + i++ + "]", problems, seen);
      return;
    }
    Class<?> type = value.getClass();
    if (!type.getName().startsWith("io.strimzi.") && !type.getName().startsWith("io.fabric8.")) return;
    for (Method getter : type.getMethods()) {
      if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers()) || getter.getDeclaringClass() == Object.class) continue;
      String name = getter.getName();
      if (!name.startsWith("get") || name.length() == 3) continue;
      Object child;
      try {
        child = getter.invoke(value);
      } catch (ReflectiveOperationException | RuntimeException e) {
        continue;
      }
      if (name.equals("getAdditionalProperties")) {
        if (child instanceof Map<?, ?> unknown && !unknown.isEmpty()) {
          problems.add(path + ": unknown field(s) " + String.join(", ", unknown.keySet().stream().map(String::valueOf).toList()));
        }
        continue;
      }
      Class<?> returned = getter.getReturnType();
      if (returned.isPrimitive() || returned.isEnum() || returned == String.class || Number.class.isAssignableFrom(returned) || returned == Boolean.class) continue;
      walk(child, path + "." + Character.toLowerCase(name.charAt(3)) + name.substring(4), problems, seen);
    }
  }
}
