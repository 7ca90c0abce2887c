package manifests

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The KEDA and k6-operator Go modules pull in controller-runtime and much
// more (KEDA's module does not build inside another module without its
// replace directives), so the two kinds loadlens uses are mirrored here:
// only the fields of keda.sh/v1alpha1 ScaledObject (KEDA v2.21) and
// k6.io/v1alpha1 TestRun (k6-operator v1) schemas that exist upstream, with
// the upstream JSON names. A field loadlens's manifests use and these
// structs lack fails the strict decode: add it here after checking the
// upstream type.

// ScaledObject mirrors keda.sh/v1alpha1 ScaledObject (spec only).
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec mirrors KEDA's ScaledObjectSpec.
type ScaledObjectSpec struct {
	ScaleTargetRef        *ScaleTarget        `json:"scaleTargetRef"`
	PollingInterval       *int32              `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32              `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32              `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32              `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32              `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32              `json:"maxReplicaCount,omitempty"`
	Advanced              *KedaAdvancedConfig `json:"advanced,omitempty"`
	Triggers              []KedaScaleTrigger  `json:"triggers"`
	Fallback              *KedaFallback       `json:"fallback,omitempty"`
}

// ScaleTarget mirrors KEDA's ScaleTarget.
type ScaleTarget struct {
	Name                   string `json:"name"`
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

// KedaAdvancedConfig mirrors KEDA's AdvancedConfig (without scalingModifiers).
type KedaAdvancedConfig struct {
	HorizontalPodAutoscalerConfig *KedaHPAConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool           `json:"restoreToOriginalReplicaCount,omitempty"`
}

// KedaHPAConfig mirrors KEDA's HorizontalPodAutoscalerConfig.
type KedaHPAConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Name     string                                         `json:"name,omitempty"`
}

// KedaScaleTrigger mirrors KEDA's ScaleTriggers.
type KedaScaleTrigger struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *KedaAuthenticationRef         `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// KedaAuthenticationRef mirrors KEDA's AuthenticationRef.
type KedaAuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// KedaFallback mirrors KEDA's Fallback.
type KedaFallback struct {
	FailureThreshold int32  `json:"failureThreshold"`
	Replicas         int32  `json:"replicas"`
	Behavior         string `json:"behavior,omitempty"`
}

// TestRun mirrors k6.io/v1alpha1 TestRun (spec only).
type TestRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TestRunSpec `json:"spec,omitempty"`
}

// TestRunSpec mirrors the k6-operator's TestRunSpec (without the cloud and
// scuttle fields).
type TestRunSpec struct {
	Script      K6Script               `json:"script"`
	Parallelism int32                  `json:"parallelism"`
	Separate    bool                   `json:"separate,omitempty"`
	Arguments   string                 `json:"arguments,omitempty"`
	Ports       []corev1.ContainerPort `json:"ports,omitempty"`
	Initializer *K6Pod                 `json:"initializer,omitempty"`
	Starter     *K6Pod                 `json:"starter,omitempty"`
	Runner      K6Pod                  `json:"runner,omitempty"`
	Quiet       string                 `json:"quiet,omitempty"`
	Paused      string                 `json:"paused,omitempty"`
	Cleanup     string                 `json:"cleanup,omitempty"`
}

// K6Script mirrors the k6-operator's K6Script.
type K6Script struct {
	VolumeClaim *K6VolumeClaim `json:"volumeClaim,omitempty"`
	ConfigMap   *K6ConfigMap   `json:"configMap,omitempty"`
	LocalFile   string         `json:"localFile,omitempty"`
}

// K6VolumeClaim mirrors the k6-operator's K6VolumeClaim.
type K6VolumeClaim struct {
	Name     string `json:"name"`
	File     string `json:"file,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// K6ConfigMap mirrors the k6-operator's K6Configmap.
type K6ConfigMap struct {
	Name string `json:"name"`
	File string `json:"file,omitempty"`
}

// K6PodMetadata mirrors the k6-operator's PodMetadata.
type K6PodMetadata struct {
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// K6Pod mirrors the k6-operator's Pod (the fields of a runner, starter or
// initializer pod).
type K6Pod struct {
	Disabled                     bool                              `json:"disabled,omitempty"`
	Affinity                     *corev1.Affinity                  `json:"affinity,omitempty"`
	AutomountServiceAccountToken string                            `json:"automountServiceAccountToken,omitempty"`
	Env                          []corev1.EnvVar                   `json:"env,omitempty"`
	Image                        string                            `json:"image,omitempty"`
	ImagePullSecrets             []corev1.LocalObjectReference     `json:"imagePullSecrets,omitempty"`
	ImagePullPolicy              corev1.PullPolicy                 `json:"imagePullPolicy,omitempty"`
	Metadata                     K6PodMetadata                     `json:"metadata,omitempty"`
	NodeSelector                 map[string]string                 `json:"nodeSelector,omitempty"`
	Tolerations                  []corev1.Toleration               `json:"tolerations,omitempty"`
	TopologySpreadConstraints    []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	Resources                    corev1.ResourceRequirements       `json:"resources,omitempty"`
	ServiceAccountName           string                            `json:"serviceAccountName,omitempty"`
	SecurityContext              corev1.PodSecurityContext         `json:"securityContext,omitempty"`
	ContainerSecurityContext     corev1.SecurityContext            `json:"containerSecurityContext,omitempty"`
	EnvFrom                      []corev1.EnvFromSource            `json:"envFrom,omitempty"`
	ReadinessProbe               *corev1.Probe                     `json:"readinessProbe,omitempty"`
	LivenessProbe                *corev1.Probe                     `json:"livenessProbe,omitempty"`
	Volumes                      []corev1.Volume                   `json:"volumes,omitempty"`
	VolumeMounts                 []corev1.VolumeMount              `json:"volumeMounts,omitempty"`
	PriorityClassName            string                            `json:"priorityClassName,omitempty"`
}
